//! `ticketwerk`: the one binary of the product. All behaviour lives in the
//! library (`ticketwerk::cli`), where tests reach it too.

fn main() -> std::process::ExitCode {
    ticketwerk_mailroom::install_tls_provider();
    ticketwerk::cli::main()
}
