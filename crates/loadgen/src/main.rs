fn main() -> std::process::ExitCode {
    flashgate_loadgen::cli::main()
}
