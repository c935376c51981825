//! `parley`: the server and its administration commands in one binary.

mod bench;
mod cli;
mod client_cli;
mod models_cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
