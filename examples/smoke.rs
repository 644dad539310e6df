use multiproc::{StartMethod, get_context};
use std::time::{Duration, Instant};

fn main() {
    for m in [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork] {
        let ctx = get_context(Some(m));
        let t = Instant::now();
        let p = ctx.process(
            |x: u32| {
                println!(
                    "child {} got {x} parent={:?}",
                    multiproc::current_process().name(),
                    multiproc::parent_process().map(|p| p.pid())
                )
            },
            7,
        );
        p.start().unwrap();
        println!("{m}: {:?} code={} {:?}", p, p.join().unwrap(), t.elapsed());
        let p = ctx.process(|(): ()| panic!("boom"), ());
        p.start().unwrap();
        println!("{m}: panic code={} failure={:?}", p.join().unwrap(), p.failure().map(|f| f.message));
        let p = ctx.process(|(): ()| std::thread::sleep(Duration::from_secs(10)), ());
        p.start().unwrap();
        p.terminate().unwrap();
        println!("{m}: term code={} {:?}", p.join().unwrap(), p);
        let p = ctx.process(|(): ()| multiproc::exit(7), ());
        p.start().unwrap();
        println!("{m}: exit7 code={}", p.join().unwrap());
        let t = Instant::now();
        for _ in 0..20 {
            let p = ctx.process(|(): ()| {}, ());
            p.start().unwrap();
            p.join().unwrap();
        }
        println!("{m}: {:?}/proc", t.elapsed() / 20);
    }
}
