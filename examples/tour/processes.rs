//! Processes: start methods, names, exit codes, terminate, panics, the `Run` trait.

use std::time::{Duration, Instant};

use multiproc::{Process, Run, StartMethod, get_all_start_methods, get_context};
use serde::{Deserialize, Serialize};

fn work(n: u64) {
    let sum: u64 = (1..=n).sum();
    println!("  [{} pid {}] sum 1..={n} = {sum}", multiproc::current_process().name(), std::process::id());
}

#[derive(Serialize, Deserialize)]
struct Countdown {
    from: u32,
}

impl Run for Countdown {
    type Output = ();
    fn run(self) {
        let me = multiproc::current_process();
        let parent = multiproc::parent_process().expect("a child has a parent");
        println!("  [{}] counting down from {} (parent {} pid {})", me.name(), self.from, parent.name(), parent.pid());
        if self.from == 0 {
            multiproc::exit(3);
        }
    }
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    println!("start methods: {:?} (default {})", get_all_start_methods(), multiproc::get_start_method());
    for m in get_all_start_methods() {
        let ctx = get_context(Some(m));
        let t = Instant::now();
        let p = ctx.process(work, 1000);
        p.start()?;
        let code = p.join()?;
        println!("{m:>10}: {p:?} exit code {code} in {:?}", t.elapsed());
    }

    println!("\nExit codes as Python reports them (a target may take any number of arguments):");
    let ok = Process::new(|| {}, ());
    let code = Process::new(|a: i32, b: i32| a + b, (2, 3));
    let exit7 = Process::new(|| multiproc::exit(7), ());
    let failed = Process::new(|n: u32| -> Result<(), String> { Err(format!("{n} is not a valid input")) }, 42);
    let sleeper = Process::new(|| std::thread::sleep(Duration::from_secs(30)), ());
    let killed = Process::new(|| std::thread::sleep(Duration::from_secs(30)), ());
    println!("  (expected: the child returning Err prints its error on its stderr, as Python prints a traceback)");
    for p in [&ok, &code, &exit7, &failed, &sleeper, &killed] {
        p.start()?;
    }
    std::thread::sleep(Duration::from_millis(100));
    sleeper.terminate()?;
    killed.kill()?;
    let cases = [
        ("returns ()", &ok),
        ("returns 2+3", &code),
        ("exit(7)", &exit7),
        ("returns Err", &failed),
        ("terminate()", &sleeper),
        ("kill()", &killed),
    ];
    for (what, p) in cases {
        println!("  {what:>12} -> exit code {:>3}   {p:?}", p.join()?);
    }
    if let Some(f) = failed.failure() {
        println!("  the failed child reported ({:?}): {:?}", f.kind, f.message);
    }
    println!("  (expected: the next lines are a child's deliberate panic, reported on its stderr)");
    let panics = Process::new(|what: String| panic!("{what}"), "a bug in the child".to_string());
    panics.start()?;
    println!("        panics -> exit code {:>3}", panics.join()?);
    if let Some(f) = panics.failure() {
        println!("  the panicking child reported: {:?} at {}", f.message, f.location.unwrap_or_default());
    }

    println!("\nCrash isolation and killable work:");
    // A C library's fatal error, in miniature: abort() kills the child with SIGABRT.
    let crash = Process::new(|(): ()| std::process::abort(), ());
    crash.start()?;
    println!("  aborting child -> exit code {} (SIGABRT); this process goes on", crash.join()?);
    let runaway = Process::new(
        |(): ()| loop {
            std::hint::spin_loop()
        },
        (),
    );
    runaway.start()?;
    let t = Instant::now();
    if runaway.join_timeout(Duration::from_millis(300)).is_err_and(|e| e.is_timeout()) {
        runaway.kill()?;
    }
    println!("  runaway child killed after a {:?} hard timeout -> exit code {}", t.elapsed(), runaway.join()?);

    println!("\nThe Run trait (Python's subclass overriding run()):");
    for from in [2, 0] {
        let p = Process::from_run(Countdown { from });
        p.start()?;
        println!("  {} exited with {}", p.name(), p.join()?);
    }

    println!("\nA closure capturing local data runs under fork:");
    let data = [3, 1, 4, 1, 5];
    let p = Process::with_closure(move || println!("  [child] sum of captured data = {}", data.iter().sum::<i32>()));
    p.start()?;
    p.join()?;

    println!("\nTerminating 20 sleepers under each start method:");
    for m in [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork] {
        let ps: Vec<Process> = (0..20)
            .map(|_| get_context(Some(m)).process(|(): ()| std::thread::sleep(Duration::from_secs(30)), ()))
            .collect();
        for p in &ps {
            p.start()?;
        }
        for p in &ps {
            p.terminate()?;
        }
        let codes: Vec<i32> = ps.iter().map(|p| p.join()).collect::<Result<_, _>>()?;
        println!(
            "  {m:>10}: exit codes all -15: {}; active children left: {}",
            codes.iter().all(|&c| c == -15),
            multiproc::active_children().len()
        );
    }
    Ok(())
}
