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
