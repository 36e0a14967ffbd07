//! A real IMAP server for the poller's tests: Debian's dovecot, started
//! per test with a generated configuration in a temporary folder, on a
//! free port of 127.0.0.1, with one user in a passwd file and a Maildir.
//! A test client appends messages and reads their flags back.
//!
//! The tests run only with `TICKETWERK_TEST_IMAP=1`; without it each says
//! that it was skipped, and with it a dovecot that cannot start fails them.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use async_imap::Session;
use async_imap::types::{Fetch, Flag};
use futures_util::TryStreamExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::CertificateDer;

pub const ENABLE_VAR: &str = "TICKETWERK_TEST_IMAP";
const DOVECOT: &str = "/usr/sbin/dovecot";
/// The mailbox's owner; an address as user name, as most providers have.
pub const USER: &str = "desk@provider.example";
pub const PASSWORD: &str = "correct horse battery staple";

/// True when the IMAP tests are to run; otherwise says once that they
/// were skipped, past the test harness's capture.
pub fn enabled() -> bool {
    if std::env::var(ENABLE_VAR).is_ok_and(|v| v.trim() == "1") {
        return true;
    }
    static SKIPPED: Once = Once::new();
    SKIPPED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: {ENABLE_VAR} is not 1; the IMAP tests against dovecot were SKIPPED \
             (they need Debian's dovecot-imapd)."
        );
    });
    false
}

/// A running dovecot, stopped when dropped.
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Child,
    /// IMAP without TLS, or with STARTTLS when TLS is on.
    pub port: u16,
    /// Implicit TLS, when TLS is on.
    pub tls_port: Option<u16>,
    /// The server's self-signed certificate, when TLS is on.
    pub certificate: Option<CertificateDer<'static>>,
}

impl Dovecot {
    /// A server without TLS, or None when the IMAP tests are off.
    pub fn plain() -> Option<Self> {
        enabled().then(|| Self::start(false))
    }

    /// A server with STARTTLS and implicit TLS under a certificate made
    /// now for 127.0.0.1, or None when the IMAP tests are off.
    pub fn with_tls() -> Option<Self> {
        enabled().then(|| Self::start(true))
    }

    fn start(tls: bool) -> Self {
        assert!(
            Path::new(DOVECOT).exists(),
            "{ENABLE_VAR}=1 but {DOVECOT} is missing: apt-get install dovecot-imapd"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let users = ProcessUsers::for_this_process(root);
        // Dovecot's own processes run as other users and must reach the
        // folder; nothing secret is in it but the test password.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mail = root.join("mail");
        std::fs::create_dir(&mail).unwrap();
        std::os::unix::fs::chown(&mail, Some(users.mail_uid), Some(users.mail_gid)).unwrap();
        std::fs::write(
            root.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .unwrap();

        let port = free_port();
        let (ssl, tls_port, certificate) = if tls {
            let cert = rcgen::generate_simple_self_signed(vec![
                "127.0.0.1".to_string(),
                "localhost".to_string(),
            ])
            .unwrap();
            std::fs::write(root.join("cert.pem"), cert.cert.pem()).unwrap();
            std::fs::write(root.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
            let ssl = format!(
                "ssl = yes\nssl_cert = <{0}/cert.pem\nssl_key = <{0}/key.pem\n",
                root.display()
            );
            (ssl, Some(free_port()), Some(cert.cert.der().clone()))
        } else {
            ("ssl = no\n".to_string(), None, None)
        };
        let config = root.join("dovecot.conf");
        std::fs::write(&config, configuration(root, &users, &ssl, port, tls_port)).unwrap();

        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{ENABLE_VAR}=1 but {DOVECOT} does not start: {e}"));
        let mut server = Self {
            dir,
            child,
            port,
            tls_port,
            certificate,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dovecot ended at its start ({status}):\n{}", self.logs());
            }
            if greets(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not answer on port {} within 15 s:\n{}",
                self.port,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Dovecot's log and its standard error, for failure messages.
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "{}{}",
            read("stderr.log").unwrap_or_default(),
            read("dovecot.log").unwrap_or_default()
        )
    }

    /// `imap://…` to the plain port, the user's `@` escaped.
    pub fn url(&self, scheme_and_query: Scheme) -> String {
        let user = USER.replace('@', "%40");
        match scheme_and_query {
            Scheme::Plain => format!("imap://{user}@127.0.0.1:{}/INBOX", self.port),
            Scheme::StartTls => {
                format!("imap://{user}@127.0.0.1:{}/INBOX?tls=required", self.port)
            }
            Scheme::Tls => {
                let port = self.tls_port.expect("a server with TLS");
                format!("imaps://{user}@127.0.0.1:{port}/INBOX")
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Scheme {
    Plain,
    StartTls,
    Tls,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // A throw-away server needs no orderly stop, which takes dovecot
        // seconds; its children end as soon as their master is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The users dovecot's processes run as. As root (as in CI), dovecot
/// drops privileges to its Debian users, and mail is kept by `dovecot`,
/// since it refuses to access mail as root. As anyone else, every process
/// and the mail are that user's.
struct ProcessUsers {
    internal: String,
    /// The group that service sockets are given to.
    internal_group: String,
    login: String,
    mail_uid: u32,
    mail_gid: u32,
}

impl ProcessUsers {
    fn for_this_process(scratch: &Path) -> Self {
        let probe = scratch.join("probe");
        std::fs::write(&probe, b"").unwrap();
        let me = std::fs::metadata(&probe).unwrap();
        std::fs::remove_file(&probe).unwrap();
        if me.uid() == 0 {
            let (uid, gid) = passwd_entry(|name, _| name == "dovecot")
                .map(|(_, uid, gid)| (uid, gid))
                .expect("the user dovecot, which dovecot-imapd creates");
            return Self {
                internal: "dovecot".into(),
                internal_group: "dovecot".into(),
                login: "dovenull".into(),
                mail_uid: uid,
                mail_gid: gid,
            };
        }
        let (name, _, _) = passwd_entry(|_, uid| uid == me.uid())
            .unwrap_or_else(|| panic!("no /etc/passwd entry for uid {}", me.uid()));
        let group = group_name(me.gid())
            .unwrap_or_else(|| panic!("no /etc/group entry for gid {}", me.gid()));
        Self {
            internal: name.clone(),
            internal_group: group,
            login: name,
            mail_uid: me.uid(),
            mail_gid: me.gid(),
        }
    }
}

/// The first `/etc/passwd` line that `wanted(name, uid)` picks.
fn passwd_entry(wanted: impl Fn(&str, u32) -> bool) -> Option<(String, u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let name = *fields.first()?;
        let uid = fields.get(2)?.parse().ok()?;
        let gid = fields.get(3)?.parse().ok()?;
        wanted(name, uid).then(|| (name.to_string(), uid, gid))
    })
}

fn group_name(gid: u32) -> Option<String> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2)?.parse::<u32>().ok()? == gid).then(|| fields[0].to_string())
    })
}

fn configuration(
    root: &Path,
    users: &ProcessUsers,
    ssl: &str,
    port: u16,
    tls_port: Option<u16>,
) -> String {
    let root = root.display();
    format!(
        r#"# Made by the mailroom's IMAP tests; removed with its folder.
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
# Loopback counts as secure for dovecot, but say it anyway.
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
# No chroot: only root may, and a test server needs no jail.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"#,
        internal = users.internal,
        internal_group = users.internal_group,
        login = users.login,
        uid = users.mail_uid,
        gid = users.mail_gid,
        // Port 0 switches the listener off.
        tls_port = tls_port.unwrap_or(0),
    )
}

/// A port that was free a moment ago. Dovecot binds it itself; another
/// process taking it in between would fail the start loudly.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Whether an IMAP server greets on the port.
fn greets(port: u16) -> bool {
    let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("* OK")
}

/// The test's own view of the mailbox, as a person's mail program has it.
pub struct Mailbox {
    session: Session<TcpStream>,
}

impl Mailbox {
    pub async fn open(server: &Dovecot) -> Self {
        let tcp = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().expect("a greeting");
        let session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        Self { session }
    }

    /// Puts a message into INBOX with the given flags, e.g. `(\Seen)`.
    pub async fn append(&mut self, raw: &[u8], flags: Option<&str>) {
        self.session
            .append("INBOX", flags, None, raw)
            .await
            .unwrap();
    }

    /// Every message's UID and flags, in UID order, as the server has
    /// them now (`\Recent` left out, which only the server sets).
    pub async fn flags(&mut self) -> Vec<(u32, Vec<String>)> {
        let mailbox = self.session.examine("INBOX").await.unwrap();
        if mailbox.exists == 0 {
            return Vec::new();
        }
        let fetches: Vec<Fetch> = self
            .session
            .uid_fetch("1:*", "FLAGS")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let mut all: Vec<(u32, Vec<String>)> = fetches
            .iter()
            .map(|f| {
                let mut flags: Vec<String> = f.flags().filter_map(flag_name).collect();
                flags.sort();
                (f.uid.expect("a UID"), flags)
            })
            .collect();
        all.sort();
        all
    }

    pub async fn logout(mut self) {
        self.session.logout().await.unwrap();
    }
}

fn flag_name(flag: Flag<'_>) -> Option<String> {
    Some(match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => return None,
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(name) => name.into_owned(),
    })
}
