fn main() -> std::process::ExitCode {
    flashgate::cli::main()
}
