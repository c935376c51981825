//! `parley`: the server and its administration commands in one binary.

mod bench;
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
