use super::*;

fn parse_ok(raw: &str) -> Inbound {
    match parse(raw.as_bytes(), &Limits::default()) {
        Ok(mail) => mail,
        Err(e) => panic!("{e}"),
    }
}

/// A simple message with the given extra headers and plain-text body.
fn simple(headers: &str, body: &str) -> String {
    format!(
        "From: Anna Berg <anna.berg@example.de>\r\nTo: service@provider.example\r\n\
         Date: Tue, 3 Mar 2026 09:15:00 +0100\r\n{headers}\r\n{body}"
    )
}

#[test]
fn decodes_headers_and_plain_text() {
    let raw = simple(
        "Subject: =?UTF-8?B?RHJ1Y2tlciBkcnVja3QgbmljaHQg4oCTIEdyw7zDn2U=?=\r\n\
         Message-ID: <abc.123@mail.example.de>\r\n\
         In-Reply-To: <tw.2026-000123.42.0011223344556677@provider.example>\r\n\
         References: <first@x.de>\r\n <second@y.de>\r\n\
         Cc: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <JOERG@Example.DE>, broken-address\r\n",
        "Hallo,\r\nder Drucker im 2. OG druckt nicht.\r\n",
    );
    let mail = parse_ok(&raw);
    assert_eq!(mail.subject, "Drucker druckt nicht – Grüße");
    assert_eq!(mail.message_id.as_deref(), Some("abc.123@mail.example.de"));
    assert_eq!(
        mail.in_reply_to,
        ["tw.2026-000123.42.0011223344556677@provider.example"]
    );
    assert_eq!(mail.references, ["first@x.de", "second@y.de"]);
    let from = mail
        .from
        .as_ref()
        .map(|f| (f.name.as_deref(), f.email.is_some()));
    assert_eq!(from, Some((Some("Anna Berg"), true)));
    assert_eq!(mail.cc[0].name.as_deref(), Some("Jörg Müller"));
    assert_eq!(
        mail.cc[0].email.as_ref().map(Email::as_str),
        Some("joerg@example.de")
    );
    assert_eq!(mail.date, Some(1_772_525_700));
    assert_eq!(mail.text, "Hallo,\nder Drucker im 2. OG druckt nicht.");
    assert_eq!(mail.html_sanitised, None);
    assert_eq!(mail.automatic, None);
}

#[test]
fn subject_loses_control_characters() {
    let raw = simple(
        "Subject: Hilfe\u{7}\tbitte =?UTF-8?Q?=0D=0ABcc:_x@y.de?=\r\n",
        "x",
    );
    assert_eq!(parse_ok(&raw).subject, "Hilfe bitte Bcc: x@y.de");
}

#[test]
fn legacy_charset_body_becomes_utf8() {
    let mut raw = simple(
        "Subject: Umlaute\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: 8bit\r\n",
        "",
    )
    .into_bytes();
    raw.extend_from_slice(b"Gr\xfc\xdfe aus K\xf6ln\r\n");
    let mail = parse(&raw, &Limits::default()).map(|m| m.text);
    assert_eq!(mail.as_deref(), Ok("Grüße aus Köln"));
}

#[test]
fn html_only_mail_becomes_readable_text_and_sanitised_html() {
    let raw = simple(
        "Subject: HTML\r\nContent-Type: text/html; charset=utf-8\r\n",
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head>\
         <body><p>Sehr geehrte Damen und Herren,</p><p>das <b>VPN</b> geht nicht.</p>\
         <ul><li>Laptop</li><li>Telefon</li></ul>\
         <a href=\"https://example.de/x\" onclick=\"steal()\">Link</a></body></html>",
    );
    let mail = parse_ok(&raw);
    assert!(
        mail.text.contains("Sehr geehrte Damen und Herren,"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("das VPN geht nicht."), "{}", mail.text);
    assert!(mail.text.contains("Laptop"), "{}", mail.text);
    assert!(
        !mail.text.contains('<') && !mail.text.contains("alert"),
        "{}",
        mail.text
    );
    let html = mail.html_sanitised.unwrap_or_default();
    assert!(html.contains("<b>VPN</b>"), "{html}");
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
}

/// A multipart/mixed message around `parts` (each with its own headers).
fn mixed(parts: &[&str]) -> String {
    let mut raw = simple(
        "Subject: Anhang\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
        "",
    );
    raw.push_str("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSiehe Anhang.\r\n");
    for part in parts {
        raw.push_str(&format!("--b1\r\n{part}\r\n"));
    }
    raw.push_str("--b1--\r\n");
    raw
}

#[test]
fn attachment_names_are_decoded_from_every_header_form() {
    let raw = mixed(&[
        // RFC 2231 with charset and percent-encoding
        "Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n \
         filename*=UTF-8''Pr%C3%BCfbericht%20M%C3%A4rz.pdf\r\n\r\nJVBERi0=",
        // RFC 2231 continuations
        "Content-Type: text/plain\r\nContent-Disposition: attachment;\r\n \
         filename*0*=UTF-8''Gr%C3%BC%C3%9Fe;\r\n filename*1=\"-Liste.txt\"\r\n\r\nx",
        // RFC 2047 encoded word in the Content-Type name
        "Content-Type: image/png; name=\"=?UTF-8?Q?Bildschirmfoto_=C3=BC.png?=\"\r\n\
         Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==",
        // No name at all
        "Content-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\nJVBERi0=",
        // A path, meant to escape a directory
        "Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"..\\\\..\\\\windows\\\\evil.exe\"\r\n\r\nMZ",
    ]);
    let mail = parse_ok(&raw);
    let names: Vec<&str> = mail
        .attachments
        .iter()
        .map(|a| a.file_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Prüfbericht März.pdf",
            "Grüße-Liste.txt",
            "Bildschirmfoto ü.png",
            "attachment-4.pdf",
            "evil.exe",
        ]
    );
    assert_eq!(mail.attachments[0].content_type, "application/pdf");
    assert_eq!(mail.attachments[2].bytes, [0x89, b'P', b'N', b'G']);
    assert!(mail.attachments.iter().all(|a| !a.inline));
    assert_eq!(mail.text, "Siehe Anhang.");
}

#[test]
fn inline_images_keep_their_content_id() {
    let raw = simple(
        "Subject: Screenshot\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/related; boundary=\"r\"\r\n",
        "--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Fehler:</p><img src=\"cid:shot1@example.de\">\r\n\
         --r\r\nContent-Type: image/png\r\nContent-ID: <shot1@example.de>\r\n\
         Content-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n--r--\r\n",
    );
    let mail = parse_ok(&raw);
    let image = &mail.attachments[0];
    assert!(image.inline);
    assert_eq!(image.content_id.as_deref(), Some("shot1@example.de"));
    assert_eq!(image.file_name, "attachment-1.png");
    let html = mail.html_sanitised.unwrap_or_default();
    assert!(html.contains("cid:shot1@example.de"), "{html}");
}

#[test]
fn safe_file_names_keep_the_extension_when_cut() {
    let long = format!("{}.docx", "a".repeat(300));
    let name = safe_file_name(Some(&long), "application/octet-stream", 1);
    assert_eq!(name.chars().count(), 150);
    assert!(name.ends_with(".docx"));
    assert_eq!(
        safe_file_name(Some(" ..\u{0}. "), "image/jpeg", 3),
        "attachment-3.jpg"
    );
    assert_eq!(
        safe_file_name(Some("a<b>:c?.txt"), "text/plain", 1),
        "a_b__c_.txt"
    );
}

#[test]
fn delivery_status_report_is_a_bounce() {
    let raw = "From: Mail Delivery System <MAILER-DAEMON@mx.example.de>\r\n\
        To: service@provider.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
        Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n\
        --d\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n\
        --d\r\nContent-Type: message/delivery-status\r\n\r\n\
        Reporting-MTA: dns; mx.example.de\r\n\r\nFinal-Recipient: rfc822; a@b.de\r\n\
        Action: failed\r\nStatus: 5.1.1\r\n\r\n--d--\r\n";
    assert_eq!(parse_ok(raw).automatic, Some(Automatic::Bounce));
}

#[test]
fn bounce_is_recognised_by_sender_or_subject_alone() {
    let by_subject = simple("Subject: Unzustellbar: Ihr Ticket\r\n", "x");
    assert_eq!(parse_ok(&by_subject).automatic, Some(Automatic::Bounce));
    let by_sender = "From: postmaster@example.de\r\nSubject: Hinweis\r\n\r\nx";
    assert_eq!(parse_ok(by_sender).automatic, Some(Automatic::Bounce));
}

#[test]
fn out_of_office_replies_are_automatic() {
    for headers in [
        "Subject: Re: [2026-000123] Drucker\r\nAuto-Submitted: auto-replied\r\n",
        "Subject: Abwesenheitsnotiz: [2026-000123] Drucker\r\n",
        "Subject: Automatische Antwort: Drucker\r\n",
        "Subject: Out of Office: Printer\r\n",
        "Subject: Drucker\r\nX-Autoreply: yes\r\n",
        "Subject: Drucker\r\nX-Autorespond: Drucker\r\n",
        "Subject: Drucker\r\nX-Auto-Response-Suppress: All\r\n",
        "Subject: Drucker\r\nPrecedence: auto_reply\r\n",
        "Return-Path: <>\r\nSubject: Re: [2026-000123] Drucker\r\n",
    ] {
        let mail = parse_ok(&simple(headers, "Ich bin bis Montag nicht im Büro."));
        assert_eq!(mail.automatic, Some(Automatic::AutoReply), "{headers}");
    }
    let human = simple("Subject: Drucker\r\nAuto-Submitted: no\r\n", "Hallo");
    assert_eq!(parse_ok(&human).automatic, None);
    let with_sender = simple(
        "Return-Path: <anna@example.de>\r\nSubject: Drucker\r\n",
        "Hallo",
    );
    assert_eq!(parse_ok(&with_sender).automatic, None);
}

#[test]
fn list_and_bulk_mail_is_recognised() {
    for headers in [
        "Subject: Newsletter\r\nList-Id: <news.example.de>\r\n",
        "Subject: Newsletter\r\nList-Unsubscribe: <mailto:off@example.de>\r\n",
        "Subject: Newsletter\r\nPrecedence: bulk\r\n",
        "Subject: Newsletter\r\nPrecedence: list\r\n",
    ] {
        let mail = parse_ok(&simple(headers, "Neuigkeiten"));
        assert_eq!(mail.automatic, Some(Automatic::Bulk), "{headers}");
    }
}

#[test]
fn mail_from_an_own_address_is_marked() {
    let own = [Email::parse("Service@Provider.example").map_err(|e| e.to_string())];
    let own: Vec<Email> = own.into_iter().flatten().collect();
    let raw = "From: Service <service@provider.example>\r\nSubject: Hi\r\nList-Id: x\r\n\r\nx";
    assert_eq!(
        parse_ok(raw).with_own_addresses(&own).automatic,
        Some(Automatic::OwnAddress)
    );
    let other = parse_ok(&simple("Subject: Hi\r\n", "x")).with_own_addresses(&own);
    assert_eq!(other.automatic, None);
}

#[test]
fn limits_hold_oversized_and_deep_messages() {
    let raw = mixed(&[
        "Content-Type: text/plain\r\n\r\na",
        "Content-Type: text/plain\r\n\r\nb",
    ]);
    let tight = |f: fn(&mut Limits)| {
        let mut limits = Limits::default();
        f(&mut limits);
        parse(raw.as_bytes(), &limits).err()
    };
    assert_eq!(
        tight(|l| l.max_bytes = 100),
        Some(ParseError::TooLarge {
            size: raw.len(),
            max: 100
        })
    );
    assert_eq!(
        tight(|l| l.max_parts = 3),
        Some(ParseError::TooManyParts { max: 3 })
    );
    assert_eq!(
        tight(|l| l.max_depth = 0),
        Some(ParseError::TooDeep { max: 0 })
    );
    assert_eq!(tight(|l| l.max_parts = 4), None);
    assert_eq!(tight(|l| l.max_depth = 1), None);
}

#[test]
fn nested_messages_count_towards_the_depth() {
    let inner = mixed(&["Content-Type: text/plain\r\n\r\ninnen"]);
    let raw = mixed(&[&format!("Content-Type: message/rfc822\r\n\r\n{inner}")]);
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    assert_eq!(
        parse(raw.as_bytes(), &limits).err(),
        Some(ParseError::TooDeep { max: 2 })
    );
    let mail = parse_ok(&raw);
    assert_eq!(mail.attachments[0].content_type, "message/rfc822");
    assert_eq!(mail.attachments[0].file_name, "attachment-1.eml");
}

#[test]
fn data_without_a_header_is_not_a_message() {
    for raw in [&b""[..], b"\r\n\r\njust text", b"\x00\x01\x02"] {
        assert_eq!(parse(raw, &Limits::default()), Err(ParseError::NotAMessage));
    }
}

#[test]
fn content_key_is_the_sha256_of_the_bytes() {
    assert_eq!(
        content_key(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn mbox_lines_blank_lines_and_bare_cr_are_repaired() {
    let mbox = b"From MAILER-DAEMON  Sun Sep  7 21:40:07 2008\nSubject: Eins\n\nText";
    let blank = b"   \r\n\r\nSubject: Zwei\r\n\r\nText";
    let mac = b"Subject: Drei\rX-Other: y\r\rText\rmehr";
    let subjects: Vec<String> = [&mbox[..], blank, mac]
        .iter()
        .filter_map(|raw| parse(raw, &Limits::default()).ok())
        .map(|m| m.subject)
        .collect();
    assert_eq!(subjects, ["Eins", "Zwei", "Drei"]);
    assert_eq!(
        normalise(b"Subject: x\r\n\r\ny").as_ref(),
        b"Subject: x\r\n\r\ny"
    );
}

#[test]
fn deeply_nested_html_is_read_without_the_html_parser() {
    let depth = 20_000;
    let html = format!("{}Hallo{}", "<div>".repeat(depth), "</div>".repeat(depth));
    let raw = simple("Subject: tief\r\nContent-Type: text/html\r\n", &html);
    let started = std::time::Instant::now();
    let mail = parse_ok(&raw);
    assert!(started.elapsed().as_secs() < 2, "{:?}", started.elapsed());
    assert_eq!(mail.text, "Hallo");
    assert_eq!(mail.html_sanitised, None);
    assert!(!too_costly_for_the_html_parser(
        "<p>Text<br>mehr<img src=x></p><ul><li>a</li><li>b</li></ul>"
    ));
}
