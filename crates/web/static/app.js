// Ticketwerk portal: small enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Catalog rows open by double-click, or by Enter when focused (manual 6).
  document.querySelectorAll("tr[data-href]").forEach((row) => {
    const open = () => { window.location.href = row.dataset.href; };
    row.addEventListener("dblclick", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  });

  // Screenshots pasted into a text field become attachments of its form.
  document.querySelectorAll("textarea[data-paste-target]").forEach((area) => {
    const input = document.getElementById(area.dataset.pasteTarget);
    if (!input || typeof DataTransfer === "undefined") return;
    area.addEventListener("paste", (e) => {
      const items = Array.from((e.clipboardData || {}).items || []);
      const images = items.filter((i) => i.kind === "file" && i.type.startsWith("image/"));
      if (images.length === 0) return;
      e.preventDefault();
      const all = new DataTransfer();
      Array.from(input.files).forEach((f) => all.items.add(f));
      images.forEach((item, n) => {
        const file = item.getAsFile();
        const ext = file.type.split("/")[1] || "png";
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        all.items.add(new File([file], `screenshot-${stamp}-${n + 1}.${ext}`, { type: file.type }));
      });
      input.files = all.files;
    });
  });
});

// A person of several business partners: the service and system lists
// offer only those of the business partner chosen. Without JavaScript all
// are offered, grouped by business partner, and the server refuses a
// mismatch with a message at the field.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("select[data-partner-of]").forEach((select) => {
    const partner = document.getElementById(select.dataset.partnerOf);
    if (!partner) return;
    const apply = () => {
      select.querySelectorAll("optgroup[data-partner]").forEach((group) => {
        const other = partner.value !== "" && group.dataset.partner !== partner.value;
        group.hidden = other;
        group.disabled = other;
        if (other && select.selectedOptions[0] && group.contains(select.selectedOptions[0])) {
          select.value = "";
        }
      });
    };
    partner.addEventListener("change", apply);
    apply();
  });
});
