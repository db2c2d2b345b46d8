//! `natter-client`: log in with a device's credentials, then send, listen or sync.

mod cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = <cli::Args as clap::Parser>::parse();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
