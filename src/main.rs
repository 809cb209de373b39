fn main() -> std::process::ExitCode {
    rvenv::run(<rvenv::cli::Cli as clap::Parser>::parse())
}
