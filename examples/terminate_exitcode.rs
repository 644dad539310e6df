//! Killing a process and reading its exit code: start a worker, watch it with `is_alive`,
//! `terminate` it, and see the exit code -15 (killed by signal 15, SIGTERM). Then the other
//! exit codes: 0 for a normal return, n for `exit(n)`, 1 for a panic.
//!
//! Run: `cargo run --example terminate_exitcode`

use std::time::Duration;

use multiproc::Process;

fn foo(_: ()) {
    println!("Starting function");
    std::thread::sleep(Duration::from_millis(500));
    println!("Finished function");
}

fn main() -> Result<(), multiproc::ProcessError> {
    let p = Process::new(foo, ());
    println!("Process before execution: {p:?} alive={}", p.is_alive());
    p.start()?;
    println!("Process running: {p:?} alive={}", p.is_alive());
    std::thread::sleep(Duration::from_millis(100));
    p.terminate()?;
    println!("Process terminated: {p:?} alive={}", p.is_alive());
    p.join()?;
    println!("Process joined: {p:?} alive={}", p.is_alive());
    println!("Process exit code: {:?}", p.exitcode());

    let normal = Process::new(foo, ());
    let exits = Process::new(|code: i32| multiproc::exit(code), 4);
    let panics = Process::new(|(): ()| panic!("something went wrong"), ());
    for p in [&normal, &exits, &panics] {
        p.start()?;
    }
    for (what, p) in [("returned", &normal), ("called exit(4)", &exits), ("panicked", &panics)] {
        let code = p.join()?;
        let meaning = match code {
            0 => "no error".to_string(),
            c if c > 0 => format!("the process had an error and exited with code {c}"),
            c => format!("the process was killed by signal {}", -c),
        };
        println!("{what:>15}: exit code {code:>3} ({meaning})");
    }
    Ok(())
}
