fn main() -> std::process::ExitCode {
    dunwell::cli::main()
}
