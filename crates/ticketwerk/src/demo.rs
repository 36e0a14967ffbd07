//! The demo data set: two business partners of a fictitious IT service
//! provider, their people, booked services, registered systems and tickets
//! in every state, written through the storage API like real data. The
//! tables below are the whole data set; `seed` only plays them back.
//!
//! Every address is under `example.com` (reserved for examples, RFC 2606),
//! so no demo mail can reach a real person.

use std::collections::HashMap;

use anyhow::Context;
use ticketwerk_domain::auth::hash_password;
use ticketwerk_domain::masterdata::{ContractInput, Period, UnitInput, UnitKind};
use ticketwerk_domain::model::{NewAttachment, NewTicket};
use ticketwerk_domain::{
    Email, EntryKind, Id, Impact, TicketKind, TicketNumber, TicketStatus, TicketType, Timestamp,
    Urgency,
};
use ticketwerk_storage::{Change, FileStore, NewPerson, Store};

/// A demo person's sign-in, printed by `ticketwerk demo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoLogin {
    pub name: String,
    pub email: String,
    pub password: String,
    /// What the person may do, in a few words.
    pub role: String,
    pub agent: bool,
}

/// Customer numbers of the demo business partners.
pub const PARTNERS: [&str; 2] = ["K-10001", "K-10002"];
/// The person who belongs to both business partners.
pub const MULTI_PARTNER_EMAIL: &str = "markus.hoffmann@it-hoffmann.example.com";
/// The desk agent.
pub const AGENT_EMAIL: &str = "jonas.weber@servicedesk.example.com";

/// What a demo person's business partner's contract says of them.
#[derive(Clone, Copy)]
enum Authority {
    /// Not named: an end user.
    None,
    /// Named as authorised ("weisungsberechtigt"), open-ended.
    Authorised,
    /// Named until a week ago: an end user again since.
    Ended,
}

struct DemoPerson {
    key: &'static str,
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    language: &'static str,
    password: &'static str,
    agent: bool,
    /// Customer number, authority there and department.
    memberships: &'static [(&'static str, Authority, Option<&'static str>)],
    role: &'static str,
}

const PERSONS: &[DemoPerson] = &[
    DemoPerson {
        key: "jonas",
        name: "Jonas Weber",
        email: AGENT_EMAIL,
        phone: "+49 341 5550 100",
        language: "de",
        password: "Demo-Passwort-1",
        agent: true,
        memberships: &[],
        role: "agent (service desk)",
    },
    DemoPerson {
        key: "sabine",
        name: "Sabine Krause",
        email: "sabine.krause@mueller-soehne.example.com",
        phone: "+49 3672 5551 20",
        language: "de",
        password: "Demo-Passwort-2",
        agent: false,
        memberships: &[("K-10001", Authority::Authorised, Some("Geschäftsführung"))],
        role: "authorised person, K-10001",
    },
    DemoPerson {
        key: "thomas",
        name: "Thomas Becker",
        email: "thomas.becker@mueller-soehne.example.com",
        phone: "+49 3672 5551 34",
        language: "de",
        password: "Demo-Passwort-3",
        agent: false,
        memberships: &[("K-10001", Authority::None, Some("Konstruktion"))],
        role: "end user, K-10001",
    },
    DemoPerson {
        key: "leonie",
        name: "Leonie Fischer",
        email: "leonie.fischer@stadtwerke-lindenau.example.com",
        phone: "+49 3631 5552 210",
        language: "de",
        password: "Demo-Passwort-4",
        agent: false,
        memberships: &[("K-10002", Authority::None, Some("Kundenservice"))],
        role: "end user, K-10002",
    },
    DemoPerson {
        key: "markus",
        name: "Markus Hoffmann",
        email: MULTI_PARTNER_EMAIL,
        phone: "+49 171 5553 870",
        language: "en",
        password: "Demo-Passwort-5",
        agent: false,
        memberships: &[
            ("K-10001", Authority::None, None),
            ("K-10002", Authority::Authorised, Some("IT")),
        ],
        role: "end user K-10001, authorised K-10002",
    },
    DemoPerson {
        key: "petra",
        name: "Petra Lang",
        email: "petra.lang@mueller-soehne.example.com",
        phone: "+49 3672 5551 41",
        language: "de",
        password: "Demo-Passwort-6",
        agent: false,
        memberships: &[("K-10001", Authority::Ended, Some("Einkauf"))],
        role: "end user K-10001, authorisation ended a week ago",
    },
];

struct DemoPartner {
    number: &'static str,
    name: &'static str,
    /// The contract that names the authorised persons.
    contract: &'static str,
    departments: &'static [&'static str],
    /// Name and description of each booked service.
    services: &'static [(&'static str, &'static str)],
    systems: &'static [DemoSystem],
}

struct DemoSystem {
    kind: &'static str,
    name: &'static str,
    inventory: &'static str,
    /// The key of the person who uses it.
    user: Option<&'static str>,
}

const fn system(
    kind: &'static str,
    name: &'static str,
    inventory: &'static str,
    user: Option<&'static str>,
) -> DemoSystem {
    DemoSystem {
        kind,
        name,
        inventory,
        user,
    }
}

const PARTNER_LIST: &[DemoPartner] = &[
    DemoPartner {
        number: "K-10001",
        name: "Müller & Söhne Maschinenbau GmbH",
        contract: "Managed-Services-Vertrag MS-2026",
        departments: &["Geschäftsführung", "Konstruktion", "Einkauf"],
        services: &[
            (
                "Managed Workplace",
                "Betreuung aller Arbeitsplätze von Müller & Söhne: Bereitstellung und Austausch \
                 von Laptops, Bildschirmen und Zubehör, monatliches Patch-Management für Windows \
                 und die Standardsoftware sowie zentral verwalteter Virenschutz. Der Service Desk \
                 nimmt Störungen werktags von 7 bis 18 Uhr entgegen; hilft die Fernwartung nicht \
                 weiter, kommt ein Techniker innerhalb eines Werktags vor Ort. Software aus dem \
                 freigegebenen Katalog installieren wir ohne Aufpreis, weitere Software auf \
                 Anfrage.",
            ),
            (
                "Microsoft 365 Betrieb",
                "Betrieb der Microsoft-365-Umgebung: Exchange Online mit Postfächern und \
                 Verteilerlisten, Teams und SharePoint einschließlich der Berechtigungen, \
                 Lizenzverwaltung und die Einrichtung neuer Mitarbeitender. Wir überwachen den \
                 Dienststatus von Microsoft und informieren bei Störungen im Kundenportal. \
                 Gelöschte E-Mails und Dateien stellen wir bis 30 Tage rückwirkend wieder her.",
            ),
            (
                "Netzwerk und Firewall",
                "Betrieb und Überwachung des Firmennetzes am Standort Werkstraße: Switches, \
                 WLAN-Access-Points und die Firewall mit den VPN-Zugängen für den Außendienst. \
                 Firmware-Updates spielen wir im monatlichen Wartungsfenster ein (erster \
                 Dienstag im Monat, 18 bis 20 Uhr). Änderungen an Firewall-Regeln beauftragen \
                 weisungsberechtigte Personen mit einem Service Request.",
            ),
        ],
        systems: &[
            system(
                "Laptop",
                "Lenovo ThinkPad T14 Gen 4",
                "MS-NB-0147",
                Some("thomas"),
            ),
            system(
                "Bildschirm",
                "Dell P2723DE 27 Zoll",
                "MS-MO-0211",
                Some("thomas"),
            ),
            system(
                "Tastatur",
                "Logitech MX Keys Business",
                "MS-TA-0088",
                Some("thomas"),
            ),
            system(
                "Maus",
                "Logitech MX Master 3S",
                "MS-MA-0091",
                Some("thomas"),
            ),
            system("Laptop", "Dell Latitude 7440", "MS-NB-0152", Some("sabine")),
            system("Telefon", "Yealink T54W", "MS-TE-0033", Some("sabine")),
            system("Laptop", "HP ProBook 450 G10", "MS-NB-0160", Some("markus")),
            system(
                "Drucker",
                "Kyocera ECOSYS M3645idn (1. OG)",
                "MS-DR-0007",
                None,
            ),
        ],
    },
    DemoPartner {
        number: "K-10002",
        name: "Stadtwerke Lindenau",
        contract: "IT-Servicevertrag SWL 2025",
        departments: &["IT", "Kundenservice"],
        services: &[
            (
                "Managed Workplace",
                "Betreuung der Arbeitsplätze in der Verwaltung und im Kundencenter: \
                 Bereitstellung, Austausch und Entsorgung der Geräte, Patch-Management, \
                 Virenschutz und Softwareverteilung. Neue Arbeitsplätze richten wir nach dem \
                 abgestimmten Standard innerhalb von drei Werktagen ein. Vor-Ort-Einsätze im \
                 Kundencenter erfolgen nach Absprache auch außerhalb der Öffnungszeiten.",
            ),
            (
                "Cloud-Telefonie",
                "Telefonanlage aus der Cloud für alle Standorte der Stadtwerke: Rufnummern und \
                 Durchwahlen, Rufgruppen für das Kundencenter und die Zentrale sowie Voicemail \
                 mit Zustellung per E-Mail. Enthalten sind die Tischtelefone, deren Einrichtung \
                 und der Austausch defekter Geräte. Änderungen an Rufgruppen und Ansagen setzen \
                 wir innerhalb von zwei Werktagen um.",
            ),
            (
                "Datensicherung",
                "Tägliche Sicherung der Server und der Fachanwendungen (Abrechnung, \
                 Dokumentation der Netzleitstelle) in ein zweites Rechenzentrum, Aufbewahrung 90 \
                 Tage. Einzelne Dateien und Ordner stellen wir auf Anfrage wieder her; eine \
                 vollständige Rücksicherung testen wir einmal im Jahr gemeinsam mit Ihnen. Über \
                 das Ergebnis der Sicherungen erhalten Sie einen monatlichen Bericht.",
            ),
        ],
        systems: &[
            system(
                "Laptop",
                "HP EliteBook 840 G10",
                "SWL-IT-4711",
                Some("leonie"),
            ),
            system(
                "Bildschirm",
                "Eizo FlexScan EV2460",
                "SWL-IT-4712",
                Some("leonie"),
            ),
            system(
                "Dockingstation",
                "HP USB-C Dock G5",
                "SWL-IT-4713",
                Some("leonie"),
            ),
            system("Telefon", "Snom D785", "SWL-IT-4720", Some("leonie")),
            system(
                "Smartphone",
                "Samsung Galaxy XCover 7",
                "SWL-IT-4735",
                Some("markus"),
            ),
        ],
    },
];

/// What happens to a ticket after it was opened, minutes after opening.
enum Step {
    /// The agent turns the call into an incident or a service request.
    Classify(TicketKind),
    /// An entry by the person with this key.
    Entry(EntryKind, &'static str, &'static str),
    /// The agent sets the status.
    Status(TicketStatus),
}

struct DemoTicket {
    partner: &'static str,
    by: &'static str,
    for_: &'static str,
    reference: &'static str,
    short_text: &'static str,
    description: &'static str,
    impact: Impact,
    urgency: Urgency,
    ticket_type: TicketType,
    service: Option<&'static str>,
    /// Inventory number of the system.
    system: Option<&'static str>,
    /// When the ticket was opened.
    minutes_ago: i64,
    /// A text file attached to the report: name and content.
    attachment: Option<(&'static str, &'static str)>,
    steps: &'static [(i64, Step)],
}

const DAY: i64 = 24 * 60;
const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

const OUTLOOK_LOG: &str = "Outlook-Synchronisierung: Fehlerprotokoll\n\
    \n\
    Aufgabe \"thomas.becker@mueller-soehne.example.com - Senden/Empfangen\" meldete Fehler \
    (0x8004210A): Zeitüberschreitung beim Empfangen vom Server.\n\
    Letzte erfolgreiche Synchronisierung: gestern, 16:42\n\
    Ordner Posteingang: 48.912 Elemente\n";

const TICKETS: &[DemoTicket] = &[
    // K-10001, a new call with a customer note.
    DemoTicket {
        partner: "K-10001",
        by: "thomas",
        for_: "thomas",
        reference: "",
        short_text: "Bildschirm flackert an der Dockingstation",
        description: "Seit heute Morgen wird mein externer Bildschirm alle paar Minuten kurz \
            schwarz, wenn der Laptop an der Dockingstation hängt. Direkt am Laptop \
            angeschlossen passiert das nicht. Ich kann weiterarbeiten, es stört aber sehr.",
        impact: Impact::Person,
        urgency: Urgency::Restricted,
        ticket_type: TicketType::Incident,
        service: Some("Managed Workplace"),
        system: Some("MS-MO-0211"),
        minutes_ago: 150,
        attachment: None,
        steps: &[(
            40,
            Step::Entry(
                EntryKind::CustomerNote,
                "thomas",
                "Nachtrag: Ein anderes Displayport-Kabel habe ich schon ausprobiert, leider \
                 ohne Erfolg.",
            ),
        )],
    },
    // K-10001, a new call the authorised person opened for a colleague.
    DemoTicket {
        partner: "K-10001",
        by: "sabine",
        for_: "thomas",
        reference: "MS-BANF-2291",
        short_text: "Zweiter Bildschirm für Arbeitsplatz Konstruktion",
        description: "Herr Becker arbeitet ab nächster Woche mit CAD-Zeichnungen und braucht \
            einen zweiten 27-Zoll-Bildschirm, gleiches Modell wie der vorhandene. Die \
            Bestellanforderung MS-BANF-2291 ist freigegeben.",
        impact: Impact::Person,
        urgency: Urgency::CanWork,
        ticket_type: TicketType::Request,
        service: Some("Managed Workplace"),
        system: None,
        minutes_ago: 5 * 60,
        attachment: None,
        steps: &[],
    },
    // K-10001, an incident in progress with an internal note and an attachment.
    DemoTicket {
        partner: "K-10001",
        by: "thomas",
        for_: "thomas",
        reference: "",
        short_text: "Outlook synchronisiert keine E-Mails mehr",
        description: "Outlook zeigt seit gestern Nachmittag \"Verbindung getrennt\" und holt \
            keine neuen E-Mails mehr ab. Ich kann keine Angebote verschicken. Die \
            Fehlermeldung aus dem Synchronisierungsprotokoll hänge ich an.",
        impact: Impact::Person,
        urgency: Urgency::CannotWork,
        ticket_type: TicketType::Incident,
        service: Some("Microsoft 365 Betrieb"),
        system: Some("MS-NB-0147"),
        minutes_ago: 2 * DAY,
        attachment: Some(("outlook-fehlerprotokoll.txt", OUTLOOK_LOG)),
        steps: &[
            (25, Step::Classify(TicketKind::Incident)),
            (
                40,
                Step::Entry(
                    EntryKind::InternalNote,
                    "jonas",
                    "Postfach ist zu 99 % voll (49,6 von 50 GB). Archivierung mit Herrn Becker \
                     abstimmen, vorher nichts löschen. Online-Archiv ist in der Lizenz \
                     enthalten.",
                ),
            ),
            (
                90,
                Step::Entry(
                    EntryKind::CustomerNote,
                    "thomas",
                    "Im Browser (Outlook im Web) kommen die E-Mails an, nur im Programm nicht.",
                ),
            ),
        ],
    },
    // K-10001, a service request waiting for the customer's answer.
    DemoTicket {
        partner: "K-10001",
        by: "sabine",
        for_: "sabine",
        reference: "MS-BANF-2287",
        short_text: "Lizenz für Microsoft Visio",
        description: "Für die Planung der neuen Fertigungshalle brauche ich Microsoft Visio.",
        impact: Impact::Person,
        urgency: Urgency::CanWork,
        ticket_type: TicketType::Request,
        service: Some("Microsoft 365 Betrieb"),
        system: None,
        minutes_ago: 3 * DAY,
        attachment: None,
        steps: &[
            (60, Step::Classify(TicketKind::ServiceRequest)),
            (
                75,
                Step::Entry(
                    EntryKind::DeskQuestion,
                    "jonas",
                    "Benötigen Sie Visio Plan 1 (nur im Browser) oder Visio Plan 2 (mit \
                     Desktop-App)? Und soll die Lizenz dauerhaft oder nur für die Dauer des \
                     Projekts zugewiesen werden?",
                ),
            ),
        ],
    },
    // K-10001, a solved incident.
    DemoTicket {
        partner: "K-10001",
        by: "thomas",
        for_: "thomas",
        reference: "",
        short_text: "Drucker im 1. OG druckt nur leere Seiten",
        description: "Der Drucker im ersten Obergeschoss zieht Papier ein, die Seiten bleiben \
            aber weiß. Die ganze Abteilung druckt deshalb im Erdgeschoss.",
        impact: Impact::Department,
        urgency: Urgency::Restricted,
        ticket_type: TicketType::Incident,
        service: Some("Managed Workplace"),
        system: Some("MS-DR-0007"),
        minutes_ago: 4 * DAY,
        attachment: None,
        steps: &[
            (20, Step::Classify(TicketKind::Incident)),
            (
                30,
                Step::Entry(
                    EntryKind::InternalNote,
                    "jonas",
                    "Fernwartung nicht möglich, Techniker für morgen früh eingeplant.",
                ),
            ),
            (
                DAY,
                Step::Entry(
                    EntryKind::Solution,
                    "jonas",
                    "Die Tonerkartusche war nach dem letzten Wechsel nicht richtig eingerastet. \
                     Unser Techniker hat sie neu eingesetzt und eine Testseite gedruckt. Tritt \
                     das wieder auf, prüfen Sie bitte zuerst, ob die Kartusche hörbar einrastet.",
                ),
            ),
        ],
    },
    // K-10001, a closed service request, opened for the multi-partner person.
    DemoTicket {
        partner: "K-10001",
        by: "sabine",
        for_: "markus",
        reference: "MS-IT-0412",
        short_text: "VPN-Zugang für Markus Hoffmann",
        description: "Herr Hoffmann betreut ab sofort unsere Außendienst-Laptops und braucht \
            dafür einen VPN-Zugang zum Firmennetz.",
        impact: Impact::Person,
        urgency: Urgency::CanWork,
        ticket_type: TicketType::Request,
        service: Some("Netzwerk und Firewall"),
        system: Some("MS-NB-0160"),
        minutes_ago: 12 * DAY,
        attachment: None,
        steps: &[
            (120, Step::Classify(TicketKind::ServiceRequest)),
            (
                600,
                Step::Entry(
                    EntryKind::CustomerNote,
                    "markus",
                    "Wäre das bis Freitag möglich? Ab Montag bin ich mit dem Laptop unterwegs.",
                ),
            ),
            (
                DAY,
                Step::Entry(
                    EntryKind::Solution,
                    "jonas",
                    "Der VPN-Zugang ist eingerichtet und auf dem Laptop MS-NB-0160 \
                     installiert. Die Zugangsdaten hat Herr Hoffmann in einer separaten E-Mail \
                     erhalten.",
                ),
            ),
            (4 * DAY, Step::Status(TicketStatus::Closed)),
        ],
    },
    // K-10001, the multi-partner person's incident: asked, answered, in progress again.
    DemoTicket {
        partner: "K-10001",
        by: "markus",
        for_: "markus",
        reference: "",
        short_text: "Kein Zugriff auf Laufwerk K: (Konstruktion)",
        description: "Seit heute fehlt mir das Laufwerk K: im Explorer. Beim manuellen \
            Verbinden kommt \"Zugriff verweigert\".",
        impact: Impact::Person,
        urgency: Urgency::Restricted,
        ticket_type: TicketType::Incident,
        service: Some("Managed Workplace"),
        system: Some("MS-NB-0160"),
        minutes_ago: DAY,
        attachment: None,
        steps: &[
            (30, Step::Classify(TicketKind::Incident)),
            (
                45,
                Step::Entry(
                    EntryKind::DeskQuestion,
                    "jonas",
                    "Sind Sie gerade im Büro oder per VPN verbunden? Und seit wann genau tritt \
                     der Fehler auf?",
                ),
            ),
            (
                80,
                Step::Entry(
                    EntryKind::CustomerQuestion,
                    "markus",
                    "Per VPN, seit dem Neustart heute früh gegen 8 Uhr.",
                ),
            ),
        ],
    },
    // K-10002, a new call.
    DemoTicket {
        partner: "K-10002",
        by: "leonie",
        for_: "leonie",
        reference: "",
        short_text: "Neue Kollegin im Kundencenter: Telefon und Rufgruppe",
        description: "Am 1. des Monats fängt Frau Neumann im Kundencenter an. Sie braucht ein \
            Tischtelefon mit eigener Durchwahl und muss in die Rufgruppe Kundencenter \
            aufgenommen werden.",
        impact: Impact::Person,
        urgency: Urgency::CanWork,
        ticket_type: TicketType::Request,
        service: Some("Cloud-Telefonie"),
        system: None,
        minutes_ago: 3 * 60,
        attachment: None,
        steps: &[],
    },
    // K-10002, an urgent incident in progress.
    DemoTicket {
        partner: "K-10002",
        by: "leonie",
        for_: "leonie",
        reference: "SWL-2026-0815",
        short_text: "Telefone im Kundencenter klingeln nicht",
        description: "Seit 9:30 Uhr klingeln bei Anrufen auf die Kundencenter-Nummer keine \
            Telefone mehr, die Anrufer hören nur das Freizeichen. Das ganze Kundencenter ist \
            telefonisch nicht erreichbar.",
        impact: Impact::Department,
        urgency: Urgency::CannotWork,
        ticket_type: TicketType::Incident,
        service: Some("Cloud-Telefonie"),
        system: Some("SWL-IT-4720"),
        minutes_ago: 6 * 60,
        attachment: None,
        steps: &[
            (10, Step::Classify(TicketKind::Incident)),
            (
                25,
                Step::Entry(
                    EntryKind::InternalNote,
                    "jonas",
                    "Carrier meldet Störung am SIP-Trunk, Störungsticket C-55812 ist eröffnet. \
                     Rückmeldung bis 14 Uhr zugesagt.",
                ),
            ),
            (
                50,
                Step::Entry(
                    EntryKind::CustomerNote,
                    "leonie",
                    "Anrufe auf die Zentrale kommen an, betroffen ist nur die Rufgruppe \
                     Kundencenter.",
                ),
            ),
        ],
    },
    // K-10002, a solved service request the authorised person opened for a colleague.
    DemoTicket {
        partner: "K-10002",
        by: "markus",
        for_: "leonie",
        reference: "",
        short_text: "Gelöschten Ordner \"Zählerablesung 2025\" wiederherstellen",
        description: "Frau Fischer hat versehentlich den Ordner \"Zählerablesung 2025\" auf dem \
            Abteilungslaufwerk gelöscht. Bitte den Stand von vorgestern wiederherstellen.",
        impact: Impact::Department,
        urgency: Urgency::CanWork,
        ticket_type: TicketType::Request,
        service: Some("Datensicherung"),
        system: None,
        minutes_ago: 2 * DAY + 300,
        attachment: None,
        steps: &[
            (30, Step::Classify(TicketKind::ServiceRequest)),
            (
                180,
                Step::Entry(
                    EntryKind::Solution,
                    "jonas",
                    "Der Ordner ist aus der Sicherung von vorgestern, 22 Uhr, an seinem \
                     ursprünglichen Ort wiederhergestellt (1.284 Dateien). Änderungen nach \
                     diesem Zeitpunkt sind nicht enthalten.",
                ),
            ),
        ],
    },
    // K-10002, a closed incident.
    DemoTicket {
        partner: "K-10002",
        by: "leonie",
        for_: "leonie",
        reference: "",
        short_text: "Laptop startet nach Update nicht mehr",
        description: "Nach dem Update gestern Abend bleibt mein Laptop beim Start mit dem \
            Herstellerlogo stehen.",
        impact: Impact::Person,
        urgency: Urgency::CannotWork,
        ticket_type: TicketType::Incident,
        service: Some("Managed Workplace"),
        system: Some("SWL-IT-4711"),
        minutes_ago: 20 * DAY,
        attachment: None,
        steps: &[
            (15, Step::Classify(TicketKind::Incident)),
            (
                150,
                Step::Entry(
                    EntryKind::Solution,
                    "jonas",
                    "Ein fehlerhaftes BIOS-Update des Herstellers hat den Start blockiert. Wir \
                     haben die vorherige BIOS-Version wiederhergestellt und das Update für alle \
                     Geräte dieses Modells gesperrt, bis der Hersteller eine korrigierte \
                     Version liefert.",
                ),
            ),
            (3 * DAY, Step::Status(TicketStatus::Closed)),
        ],
    },
    // K-10002, a closed service request of the multi-partner person.
    DemoTicket {
        partner: "K-10002",
        by: "markus",
        for_: "markus",
        reference: "",
        short_text: "Diensthandy für den Bereitschaftsdienst einrichten",
        description: "Bitte das neue Smartphone für die Rufbereitschaft einrichten: \
            Firmen-E-Mail, Teams und die Weiterleitung der Bereitschaftsnummer.",
        impact: Impact::Person,
        urgency: Urgency::CanWork,
        ticket_type: TicketType::Request,
        service: Some("Cloud-Telefonie"),
        system: Some("SWL-IT-4735"),
        minutes_ago: 30 * DAY,
        attachment: None,
        steps: &[
            (60, Step::Classify(TicketKind::ServiceRequest)),
            (
                2 * DAY,
                Step::Entry(
                    EntryKind::Solution,
                    "jonas",
                    "Das Smartphone ist eingerichtet: E-Mail und Teams sind aktiv, die \
                     Bereitschaftsnummer wird werktags ab 17 Uhr und am Wochenende auf das Gerät \
                     weitergeleitet.",
                ),
            ),
            (5 * DAY, Step::Status(TicketStatus::Closed)),
        ],
    },
];

/// Writes the demo data set into an empty store, with `now` as the
/// present, and returns the sign-ins to print. Fails on a store that
/// already holds any of it (customer numbers and emails are unique).
pub async fn seed(store: &Store, files: &FileStore, now: i64) -> anyhow::Result<Vec<DemoLogin>> {
    // Master data is set up three months before the tickets' days.
    let setup_time = now - 90 * SECONDS_PER_DAY;

    let setup = Change {
        actor: None,
        at: setup_time,
    };
    let mut partners: HashMap<&str, Id> = HashMap::new();
    let mut contracts: HashMap<&str, Id> = HashMap::new();
    let mut units: HashMap<(&str, &str), Id> = HashMap::new();
    for p in PARTNER_LIST {
        let id = store
            .create_business_partner(p.number, p.name, setup_time)
            .await
            .with_context(|| format!("creating business partner {}", p.number))?;
        partners.insert(p.number, id);
        let contract = ContractInput {
            name: p.contract.into(),
            period: Period::new(setup_time, None)?,
        };
        contracts.insert(p.number, store.add_contract(id, &contract, setup).await?);
        for name in p.departments {
            let unit = UnitInput {
                kind: UnitKind::Department,
                name: (*name).into(),
            };
            units.insert((p.number, *name), store.add_unit(id, &unit, setup).await?);
        }
    }

    let mut persons: HashMap<&str, Id> = HashMap::new();
    let mut logins = Vec::new();
    for p in PERSONS {
        let new = NewPerson {
            email: Email::parse(p.email)?,
            name: p.name.into(),
            phone: p.phone.into(),
            language: p.language.into(),
            agent: p.agent,
            password_hash: Some(hash_password(p.password)?),
        };
        let id = store
            .create_person(&new, setup_time)
            .await
            .with_context(|| format!("creating person {}", p.email))?;
        for (number, authority, department) in p.memberships {
            let unit = department
                .map(|d| lookup(&units, &(*number, d)))
                .transpose()?;
            store
                .join_partner(id, lookup(&partners, number)?, unit, setup)
                .await?;
            let until = match authority {
                Authority::None => continue,
                Authority::Authorised => None,
                Authority::Ended => Some(now - 7 * SECONDS_PER_DAY),
            };
            let period = Period::new(setup_time, until)?;
            store
                .authorise(lookup(&contracts, number)?, id, period, setup)
                .await?;
        }
        persons.insert(p.key, id);
        logins.push(DemoLogin {
            name: p.name.into(),
            email: p.email.into(),
            password: p.password.into(),
            role: p.role.into(),
            agent: p.agent,
        });
    }

    // Services are keyed by customer number and name, systems by their
    // inventory number, as the tickets below refer to them.
    let mut services: HashMap<(&str, &str), Id> = HashMap::new();
    let mut systems: HashMap<&str, Id> = HashMap::new();
    for p in PARTNER_LIST {
        let partner = lookup(&partners, p.number)?;
        for (name, description) in p.services {
            services.insert(
                (p.number, name),
                store.create_service(partner, name, description).await?,
            );
        }
        for s in p.systems {
            let user = s.user.map(|key| lookup(&persons, key)).transpose()?;
            let id = store
                .create_system(partner, s.kind, s.name, s.inventory, user)
                .await?;
            systems.insert(s.inventory, id);
        }
    }

    let agent = lookup(&persons, "jonas")?;
    for t in TICKETS {
        let opened = now - t.minutes_ago * 60;
        let mut attachments = Vec::new();
        if let Some((file_name, content)) = t.attachment {
            let storage_key = files.put(content.as_bytes()).await?;
            attachments.push(NewAttachment {
                file_name: file_name.into(),
                content_type: "text/plain; charset=utf-8".into(),
                size: i64::try_from(content.len())?,
                storage_key,
            });
        }
        let service = match t.service {
            Some(name) => Some(
                *services
                    .get(&(t.partner, name))
                    .with_context(|| format!("demo data: no service {name} at {}", t.partner))?,
            ),
            None => None,
        };
        let new = NewTicket {
            business_partner_id: lookup(&partners, t.partner)?,
            reported_by: lookup(&persons, t.by)?,
            reported_for: lookup(&persons, t.for_)?,
            reference: t.reference.into(),
            short_text: t.short_text.into(),
            description: t.description.into(),
            impact: t.impact,
            urgency: t.urgency,
            ticket_type: t.ticket_type,
            service_id: service,
            system_id: t.system.map(|inv| lookup(&systems, inv)).transpose()?,
        };
        let (_, number) = store
            .create_ticket(&new, &attachments, year_of(opened)?, opened)
            .await
            .with_context(|| format!("creating ticket {:?}", t.short_text))?;
        for (minutes, step) in t.steps {
            let at = opened + minutes * 60;
            let ticket = load(store, &number).await?;
            match step {
                Step::Classify(kind) => store.classify(&ticket, *kind, agent, at).await?,
                Step::Status(status) => store.set_status(&ticket, *status, agent, at).await?,
                Step::Entry(kind, who, body) => {
                    let author = lookup(&persons, who)?;
                    store
                        .add_entry(&ticket, *kind, author, body, &[], at)
                        .await?;
                }
            }
        }
    }
    Ok(logins)
}

fn lookup<K, Q>(map: &HashMap<K, Id>, key: &Q) -> anyhow::Result<Id>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + std::fmt::Debug + ?Sized,
{
    map.get(key)
        .copied()
        .with_context(|| format!("demo data refers to unknown {key:?}"))
}

async fn load(
    store: &Store,
    number: &TicketNumber,
) -> anyhow::Result<ticketwerk_domain::model::Ticket> {
    store
        .ticket_by_number(number)
        .await?
        .with_context(|| format!("ticket {number} vanished"))
}

/// The calendar year of a moment, which ticket numbers start with.
fn year_of(at: Timestamp) -> anyhow::Result<i32> {
    let zoned = jiff::Timestamp::from_second(at)?.to_zoned(jiff::tz::TimeZone::UTC);
    Ok(i32::from(zoned.year()))
}

/// Renders the sign-ins as an aligned table.
pub fn login_table(logins: &[DemoLogin]) -> String {
    let head = ("Name", "Email", "Password", "Role");
    let width = |f: fn(&DemoLogin) -> &str, title: &str| {
        logins
            .iter()
            .map(|l| f(l).chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w = [
        width(|l| &l.name, head.0),
        width(|l| &l.email, head.1),
        width(|l| &l.password, head.2),
    ];
    let row = |a: &str, b: &str, c: &str, d: &str| {
        format!(
            "  {a:<w0$}  {b:<w1$}  {c:<w2$}  {d}\n",
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        )
    };
    let mut out = row(head.0, head.1, head.2, head.3);
    out.push_str(&row(
        &"-".repeat(w[0]),
        &"-".repeat(w[1]),
        &"-".repeat(w[2]),
        &"-".repeat(head.3.len()),
    ));
    for l in logins {
        out.push_str(&row(&l.name, &l.email, &l.password, &l.role));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_addresses_are_reserved_and_passwords_long() {
        for p in PERSONS {
            assert!(p.email.ends_with(".example.com"), "{}", p.email);
            assert!(Email::parse(p.email).is_ok());
            assert!(p.password.len() >= ticketwerk_domain::auth::MIN_PASSWORD_LEN);
        }
    }
}
