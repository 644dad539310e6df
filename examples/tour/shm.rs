//! Shared memory: Value and Array with their lock, raw values, named SharedMemory with owner
//! tracking, ShareableList.

use std::time::{Duration, Instant};

use multiproc::{Array, Item, Process, RawArray, ShareableList, SharedMemory, StartMethod, Value, get_context};

fn add_many((v, n): (Value<u64>, u64)) {
    for _ in 0..n {
        *v.acquire().expect("lock") += 1; // Python: with v.get_lock(): v.value += 1
    }
}

fn fill_chunk((a, start, len): (Array<f64>, usize, usize)) {
    let mut g = a.acquire().expect("lock");
    for (i, x) in g[start..start + len].iter_mut().enumerate() {
        *x = ((start + i) as f64).sqrt();
    }
}

fn attach_and_write(name: String) {
    let shm = SharedMemory::open(&name).expect("attach");
    shm.write_at(0, format!("hello from pid {}", std::process::id()).as_bytes()).expect("write");
    println!("  [child] attached to {shm:?}; owner? {}", shm.is_owner());
}

fn create_and_die(fd: multiproc::handle::Fd) {
    use std::io::Write;
    let shm = SharedMemory::create(None, 4096).expect("create");
    let mut w = std::fs::File::from(fd.into_owned());
    writeln!(w, "{}", shm.name().unwrap()).expect("report");
    std::thread::sleep(Duration::from_secs(60));
}

fn edit_list(sl: ShareableList) {
    sl.set(0, "edited").expect("fits");
    sl.set(2, sl.len() as i64).expect("in range");
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    println!("Value<u64> with its RLock, incremented by 4 processes x 10000 (every start method):");
    for m in [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork] {
        let v = Value::new(0u64)?;
        let t = Instant::now();
        let ps: Vec<Process> = (0..4).map(|_| get_context(Some(m)).process(add_many, (v.clone(), 10_000))).collect();
        for p in &ps {
            p.start()?;
        }
        for p in &ps {
            p.join()?;
        }
        println!("  {:>10}: total {} (expected 40000) in {:?}", m.to_string(), v.get(), t.elapsed());
    }

    println!("\nArray<f64>, filled in place by two children (the guard derefs to &mut [f64]):");
    let a = Array::<f64>::zeroed(8)?;
    let ps = [Process::new(fill_chunk, (a.clone(), 0, 4)), Process::new(fill_chunk, (a.clone(), 4, 4))];
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
    }
    println!("  {:?}", a.to_vec().iter().map(|x| (x * 100.0).round() / 100.0).collect::<Vec<_>>());
    let raw = RawArray::from_slice(&[1u8, 2, 3])?;
    println!("  RawArray (no lock, copies in and out): {raw:?}");

    println!("\nNamed SharedMemory in /dev/shm (mode 0600), attached by name in a child:");
    let shm = SharedMemory::create(None, 64)?;
    let name = shm.name().unwrap().to_string();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(format!("/dev/shm/{name}"))?.permissions().mode() & 0o777;
        println!("  created {shm:?}, mode {mode:o}");
    }
    let p = Process::new(attach_and_write, name.clone());
    p.start()?;
    p.join()?;
    let text = String::from_utf8_lossy(&shm.to_vec()).trim_end_matches('\0').to_string();
    println!("  parent reads: {text:?}; the attacher's exit left it in place: {}", SharedMemory::open(&name).is_ok());
    shm.unlink()?;
    println!("  after unlink: open -> {:?}", SharedMemory::open(&name).unwrap_err().kind());

    println!("\nA creator SIGKILLed: its tracker unlinks what it created (never what it attached to):");
    println!("  (expected: the tracker's warning about one leaked object follows, as CPython's does)");
    let (r, w) = std::os::unix::net::UnixStream::pair()?;
    let p = Process::new(create_and_die, multiproc::handle::Fd::from(std::os::fd::OwnedFd::from(w)));
    p.start()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(r), &mut line)?;
    let leaked = line.trim().to_string();
    p.kill()?;
    p.join()?;
    let t = Instant::now();
    while std::fs::metadata(format!("/dev/shm/{leaked}")).is_ok() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "  {leaked} gone {:?} after the kill: {}",
        t.elapsed(),
        std::fs::metadata(format!("/dev/shm/{leaked}")).is_err()
    );

    println!("\nShareableList (CPython's layout; a Python process can attach by name):");
    let sl = ShareableList::create(None, [Item::from("howdy"), Item::from(-273.15), Item::None, Item::from(true)])?;
    println!("  {sl:?}, format {:?}", sl.format());
    let p = Process::new(edit_list, sl.clone());
    p.start()?;
    p.join()?;
    println!("  after the child: {:?}", sl.to_vec());
    println!("  a too-long str: {}", sl.set(0, "far too many").unwrap_err());
    sl.shm().unlink()?;
    Ok(())
}
