//! The command line: `serve`, `demo` and `admin …`. Parsing is clap's;
//! each command is a small function over the library, so tests can call
//! the same code the binary runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use ticketwerk_domain::import::ImportKind;

use crate::admin::{self, PersonSpec};
use crate::config::{ATTACHMENTS_DIR, Config, DATABASE_FILE, Layer, sqlite_url};
use crate::demo;

/// Ticketwerk: customer portal and service desk for IT service providers.
#[derive(Debug, Parser)]
#[command(name = "ticketwerk", version, propagate_version = true)]
#[command(
    after_help = "Settings are read from defaults, then the --config file, then \
    TICKETWERK_* environment variables (TICKETWERK_LISTEN, TICKETWERK_DATA_DIR, \
    TICKETWERK_DATABASE_URL, …), then flags; each overrides the one before. \
    ticketwerk.example.toml documents every setting.\n\
    Logging: RUST_LOG sets the filter (default info); TICKETWERK_LOG_FORMAT=json logs JSON."
)]
pub struct Cli {
    /// Configuration file in TOML (see ticketwerk.example.toml).
    #[arg(long, global = true, env = "TICKETWERK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the customer portal and the desk.
    Serve {
        #[command(flatten)]
        listen: ListenArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Serve a fresh demo data set with printed sign-ins.
    #[command(long_about = "Serve a fresh demo data set with printed sign-ins.\n\n\
        The demo keeps its data apart from a real installation: it uses its own directory \
        (./ticketwerk-demo unless --data-dir says otherwise) with its own SQLite database, \
        and ignores data_dir, database_url and attachments_dir from the configuration. It \
        only writes into an empty directory or one it created itself (marked by a \
        .ticketwerk-demo file). If that directory already holds demo data, it stops unless \
        --reset is given, which deletes the demo database and attachments first.")]
    Demo {
        #[command(flatten)]
        listen: ListenArgs,
        /// Directory of the demo data.
        #[arg(long, value_name = "DIR", default_value = "./ticketwerk-demo")]
        data_dir: PathBuf,
        /// Delete earlier demo data in that directory and seed afresh.
        #[arg(long)]
        reset: bool,
    },
    /// Create agents, business partners and persons.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Incoming mail.
    #[command(subcommand)]
    Mail(MailCommand),
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Store one message read from stdin, for an MTA to pipe mail into.
    #[command(
        long_about = "Store one message read from stdin, for an MTA to pipe mail into \
        (Postfix: mailbox_command or a pipe transport; Exim: a pipe transport).\n\n\
        Exit codes: 0 stored, or delivered before (nothing changed); 75 (EX_TEMPFAIL) a \
        temporary failure such as the database not answering, so the MTA retries later; \
        65 (EX_DATAERR) the message is larger than twice mail_max_bytes and is never \
        taken, so the MTA bounces it. Mail that cannot be read, or is over mail_max_bytes, \
        is stored and held for the desk, not bounced."
    )]
    Receive {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a service-desk agent.
    CreateAgent {
        /// Email address, used to sign in.
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Create a business partner (a customer company).
    CreateBusinessPartner {
        /// Customer number, e.g. K-10003; unique.
        #[arg(long)]
        customer_number: String,
        /// Company name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Create a person of a business partner with portal access.
    CreatePerson {
        /// Email address, used to sign in.
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Customer number of the business partner the person belongs to.
        #[arg(long, value_name = "CUSTOMER_NUMBER")]
        business_partner: String,
        /// Authorised ("weisungsberechtigt"): sees all open and closed tickets of the
        /// business partner.
        #[arg(long, alias = "authorized")]
        authorised: bool,
        /// Phone number.
        #[arg(long, default_value = "")]
        phone: String,
        /// Language of the portal and of mails.
        #[arg(long, value_enum, default_value_t = Language::De)]
        language: Language,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Import persons or systems from a CSV file. Every row is checked; if any
    /// row is refused, each is listed with its reason and nothing is written.
    #[command(long_about = "Import persons or systems from a CSV file.\n\n\
        The file is UTF-8 or Windows-1252, separated by ';', ',' or tabs, with a header \
        line naming the columns in English or German (see docs/import.md). Every row is \
        checked; if any row is refused, each refused row is listed with its line and \
        reason, nothing is written and the exit status is 1. --dry-run checks and \
        reports without writing.")]
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        what: ImportWhat,
        /// The CSV file.
        file: PathBuf,
        /// Check every row and report; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// What an import file holds.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImportWhat {
    /// Persons: customer_number, name, email, phone, language, department.
    Persons,
    /// Systems: customer_number, kind, name, inventory_number, user_email.
    Systems,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Language {
    De,
    En,
}

impl Language {
    fn code(self) -> &'static str {
        match self {
            Language::De => "de",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Send cookies without `Secure`, for plain HTTP. Honoured on loopback only; on by default
    /// when listening on a loopback address.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_cookies: Option<bool>,
}

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Directory of the SQLite database and the attachments [default: ./ticketwerk-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, e.g. postgres://USER:PASSWORD@HOST/DB [default: SQLite in the data
    /// directory].
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Take the password from this environment variable instead of generating one (so it
    /// stays out of the shell history). Generated passwords are printed once.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

impl StorageArgs {
    fn layer(&self) -> Layer {
        Layer {
            data_dir: self.data_dir.clone(),
            database_url: self.database.clone(),
            ..Layer::default()
        }
    }
}

impl ListenArgs {
    fn layer(&self) -> Layer {
        Layer {
            listen: self.listen.clone(),
            insecure_cookies: self.insecure_cookies,
            ..Layer::default()
        }
    }
}

/// Parses the command line, runs the command, and turns an error into a
/// message on stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<ExitWith>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.downcast_ref::<ExitWith>().map_or(1, |x| x.code))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::init_logging();
    let file = cli.config.as_deref();
    match cli.command {
        Command::Serve { listen, storage } => {
            let config = Config::load(file, storage.layer().overlay(listen.layer()))?;
            serve(&config).await
        }
        Command::Demo {
            listen,
            data_dir,
            reset,
        } => run_demo(file, &listen, &data_dir, reset).await,
        Command::Admin(command) => run_admin(file, command).await,
        Command::Mail(MailCommand::Receive { storage }) => {
            let config = Config::load(file, storage.layer());
            let (code, message) = crate::mail::receive(config, std::io::stdin().lock()).await;
            if code == crate::mail::exit::OK {
                if !message.is_empty() {
                    eprintln!("{message}");
                }
                Ok(())
            } else {
                Err(ExitWith { code, message }.into())
            }
        }
    }
}

/// An error that ends the process with a code of its own, for commands an
/// MTA runs and reads the code of.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    pub code: u8,
    pub message: String,
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    tracing::info!(
        data_dir = %config.data_dir.display(),
        database = %crate::redact(&config.database_url),
        attachments = %config.attachments_dir.display(),
        "starting"
    );
    match crate::cookie_hint(config) {
        (true, hint) => tracing::warn!("{hint}"),
        (false, hint) => tracing::info!("{hint}"),
    }
    let (server, store, _files) = crate::start(config).await?;
    // Where persons reach the portal, if the operator named it; passkeys
    // work only there.
    tracing::info!(listening = %server.url(), "open {}", config.mail.portal_url);
    crate::run_until_stopped(server, store).await
}

/// Marks a directory as created by `demo`, so `--reset` never deletes
/// anything in a directory the demo did not make.
pub const DEMO_MARKER: &str = ".ticketwerk-demo";

/// Makes sure `dir` may receive a fresh demo data set; see `demo --help`.
pub fn prepare_demo_dir(dir: &Path, reset: bool) -> anyhow::Result<()> {
    let marker = dir.join(DEMO_MARKER);
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the demo directory {}", dir.display()))?;
        if !marker.exists() && entries.next().is_some() {
            bail!(
                "{} is not empty and was not created by `ticketwerk demo` (it has no \
                 {DEMO_MARKER} file); the demo only writes into its own directory, choose \
                 another --data-dir",
                dir.display()
            );
        }
        let database = dir.join(DATABASE_FILE);
        let attachments = dir.join(ATTACHMENTS_DIR);
        if database.exists() || attachments.exists() {
            if !reset {
                bail!(
                    "{} already holds demo data: `ticketwerk serve --data-dir {}` runs the portal \
                     on it again; pass --reset to delete it and start afresh, or choose another \
                     --data-dir",
                    dir.display(),
                    dir.display()
                );
            }
            for suffix in ["", "-wal", "-shm"] {
                let file = dir.join(format!("{DATABASE_FILE}{suffix}"));
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("cannot delete {}", file.display()))?;
                }
            }
            if attachments.exists() {
                std::fs::remove_dir_all(&attachments)
                    .with_context(|| format!("cannot delete {}", attachments.display()))?;
            }
        }
    } else {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the demo directory {}", dir.display()))?;
    }
    std::fs::write(
        &marker,
        "Demo data of `ticketwerk demo`; `ticketwerk demo --reset` deletes it.\n",
    )
    .with_context(|| format!("cannot write {}", marker.display()))
}

async fn run_demo(
    file: Option<&Path>,
    listen: &ListenArgs,
    dir: &Path,
    reset: bool,
) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir)
        .with_context(|| format!("invalid demo directory {}", dir.display()))?;
    // The demo's storage is laid on top of every other layer, so neither
    // a configuration file nor TICKETWERK_DATABASE_URL can point it at
    // real data.
    let storage = Layer {
        data_dir: Some(dir.clone()),
        database_url: Some(sqlite_url(&dir.join(DATABASE_FILE))?),
        attachments_dir: Some(dir.join(ATTACHMENTS_DIR)),
        ..Layer::default()
    };
    let config = Config::load(file, listen.layer().overlay(storage))?;
    prepare_demo_dir(&dir, reset)?;
    // Bind before seeding: a busy port should not leave seeded data behind.
    let listener = crate::bind(&config).await?;
    let (store, files) = crate::open_storage(&config).await?;
    let logins = demo::seed(&store, &files, crate::now())
        .await
        .context("seeding the demo data")?;
    let server = crate::spawn_server(listener, store.clone(), files, &config).await?;
    // The portal's address when one is set (passkeys work only at a
    // domain name, e.g. TICKETWERK_PORTAL_URL=http://localhost:8080).
    let url = format!("{}/", config.mail.portal_url.trim_end_matches('/'));
    println!("{}", demo_banner(&url, &dir, &logins, &config));
    crate::run_until_stopped(server, store).await
}

fn demo_banner(url: &str, dir: &Path, logins: &[demo::DemoLogin], config: &Config) -> String {
    let mut out = String::new();
    out.push_str(&format!("\nTicketwerk demo: open {url}\n\n"));
    out.push_str("Demo sign-ins:\n");
    out.push_str(&demo::login_table(logins));
    out.push_str(
        "\nEach person enrols an authenticator app (TOTP, e.g. Microsoft Authenticator) at the \
         first sign-in by scanning a QR code; afterwards sign-in asks for its 6-digit code.\n",
    );
    out.push_str(&format!(
        "Business partners: {} Müller & Söhne Maschinenbau GmbH, {} Stadtwerke Lindenau; \
         Markus Hoffmann belongs to both.\n",
        demo::PARTNERS[0],
        demo::PARTNERS[1]
    ));
    out.push_str(&format!("Note: {}\n", crate::cookie_hint(config).1));
    out.push_str(&format!(
        "Demo data lives in {}; `ticketwerk serve --data-dir {}` runs the portal on it \
         again, the demo with --reset starts afresh. Stop with Ctrl-C.\n",
        dir.display(),
        dir.display()
    ));
    out
}

async fn run_admin(file: Option<&Path>, command: AdminCommand) -> anyhow::Result<()> {
    let now = crate::now();
    match command {
        AdminCommand::CreateAgent {
            email,
            name,
            password,
            storage,
        } => {
            let config = Config::load(file, storage.layer())?;
            let secret = admin::password_from_env(password.password_env.as_deref())?;
            let (store, _) = crate::open_storage(&config).await?;
            let spec = PersonSpec {
                email,
                name,
                phone: String::new(),
                language: "de".into(),
                agent: true,
                business_partner: None,
            };
            let created = admin::create_person(&store, &spec, &secret.value, now).await;
            store.close().await;
            let created = created?;
            println!("Created agent {} (id {}).", created.email, created.id);
            print_password(&secret);
        }
        AdminCommand::CreateBusinessPartner {
            customer_number,
            name,
            storage,
        } => {
            let config = Config::load(file, storage.layer())?;
            let (store, _) = crate::open_storage(&config).await?;
            let id = admin::create_business_partner(&store, &customer_number, &name, now).await;
            store.close().await;
            let id = id?;
            println!(
                "Created business partner {} {:?} (id {id}).",
                customer_number.trim(),
                name.trim()
            );
        }
        AdminCommand::CreatePerson {
            email,
            name,
            business_partner,
            authorised,
            phone,
            language,
            password,
            storage,
        } => {
            let config = Config::load(file, storage.layer())?;
            let secret = admin::password_from_env(password.password_env.as_deref())?;
            let (store, _) = crate::open_storage(&config).await?;
            let spec = PersonSpec {
                email,
                name,
                phone,
                language: language.code().into(),
                agent: false,
                business_partner: Some((business_partner.clone(), authorised)),
            };
            let created = admin::create_person(&store, &spec, &secret.value, now).await;
            store.close().await;
            let created = created?;
            let role = if authorised {
                "authorised person"
            } else {
                "end user"
            };
            println!(
                "Created {role} {} (id {}) of business partner {}.",
                created.email,
                created.id,
                business_partner.trim()
            );
            print_password(&secret);
        }
        AdminCommand::Import {
            what,
            file: path,
            dry_run,
            storage,
        } => {
            let config = Config::load(file, storage.layer())?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let kind = match what {
                ImportWhat::Persons => ImportKind::Persons,
                ImportWhat::Systems => ImportKind::Systems,
            };
            let (store, _) = crate::open_storage(&config).await?;
            let report = admin::import(&store, kind, &bytes, dry_run, now).await;
            store.close().await;
            let report = report?;
            for e in &report.rejected {
                let column = if e.field.is_empty() {
                    String::new()
                } else {
                    format!(", {}", e.field)
                };
                println!(
                    "line {}{column}: {}",
                    e.line,
                    ticketwerk_web::message("en", e.code)
                );
            }
            let what = kind.code();
            match (report.written, report.refused_rows()) {
                (true, _) => println!(
                    "Imported {} {what} from {} rows.",
                    report.created, report.rows
                ),
                (false, 0) => println!(
                    "Dry run: all {} rows are fine; {} {what} would be created. Nothing was written.",
                    report.rows, report.created
                ),
                (false, n) => bail!("{n} of {} rows refused; nothing was written", report.rows),
            }
        }
    }
    Ok(())
}

fn print_password(secret: &admin::Password) {
    if secret.generated {
        println!("Password: {}", secret.value);
        println!("It is shown only this once; hand it over securely.");
    }
    println!("At the first sign-in the person enrols an authenticator app (TOTP).");
}
