pub mod smtp_server;
