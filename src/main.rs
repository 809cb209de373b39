fn main() -> std::process::ExitCode {
    rvenv::app::main()
}
