//! The child bootstrap without the `ctor` feature: `main` calls `multiproc::init()` first and
//! every start method still runs children, passes them handles and reports their exit codes.
//!
//! `cargo test -p multiproc --no-default-features --test no_ctor` runs it the way a user who
//! turned the constructor off does (`scripts/test.sh` runs that); under the default features
//! (`cargo test`) it checks that `init()` is a harmless no-op. A plain `main` (harness = false),
//! because the test binary is the child's binary and its `main` must call `init()` first.

use std::time::Duration;

use multiproc::{Queue, StartMethod, get_context};

fn square((q, x): (Queue<u64>, u64)) {
    q.put(x * x).unwrap();
}

fn exit_seven(_: ()) {
    multiproc::exit(7);
}

fn main() {
    multiproc::init();
    // A hang fails the test instead of stalling CI.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("no_ctor: not finished after 120 s; aborting");
        std::process::abort();
    });
    let bootstrap = if cfg!(feature = "ctor") { "constructor" } else { "explicit init()" };
    let mut passed = 0;
    for method in [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork] {
        let ctx = get_context(Some(method));
        let q: Queue<u64> = Queue::new().unwrap();
        let p = ctx.process(square, (q.clone(), 7));
        p.start().unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(60)).unwrap(), 49);
        assert_eq!(p.join().unwrap(), 0);
        let p = ctx.process(exit_seven, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 7);
        println!("test no_ctor::{method} ({bootstrap}) ... ok");
        passed += 1;
    }
    println!("no_ctor: {passed} passed, 0 failed");
}
