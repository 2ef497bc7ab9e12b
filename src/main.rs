fn main() {
    std::process::exit(advbn::cli::run());
}
