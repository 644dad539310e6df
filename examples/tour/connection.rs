//! Pipes and connections: a pipe between processes, handles sent over a connection, a
//! Listener/Client pair with an authkey, and `wait` over connections and a sentinel.

use std::time::{Duration, Instant};

use multiproc::connection::{Client, Connection, Listener, Waitable, wait};
use multiproc::{Process, pipe};

fn squarer(conn: Connection) {
    while let Ok(x) = conn.recv::<u64>() {
        if x == 0 {
            break;
        }
        conn.send(&(x, x * x)).unwrap();
    }
}

fn client_child(address: multiproc::connection::Address) {
    let conn = Client::connect(&address, Some(b"tour secret")).unwrap();
    conn.send(&format!("authenticated client, pid {}", std::process::id())).unwrap();
}

fn use_passed(conn: Connection) {
    let inner: Connection = conn.recv().unwrap();
    inner.send_bytes(b"written through a connection that came inside a message").unwrap();
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    // A duplex pipe to a child.
    let (here, there) = pipe(true)?;
    let p = Process::new(squarer, there);
    p.start()?;
    let t = Instant::now();
    for x in 1..=3u64 {
        here.send(&x)?;
        let (x, sq) = here.recv::<(u64, u64)>()?;
        println!("  child squared {x} -> {sq}");
    }
    println!("  3 round trips in {:?}", t.elapsed());
    here.send(&0u64)?;
    p.join()?;

    // A connection travels inside a message (SCM_RIGHTS) to a child.
    let (a, b) = pipe(true)?;
    let (x, y) = pipe(true)?;
    let p = Process::new(use_passed, b);
    p.start()?;
    a.send(&x)?;
    drop(x);
    println!("  {}", String::from_utf8_lossy(&y.recv_bytes()?));
    p.join()?;

    // Listener and Client with an authkey (CPython's handshake; a Python Client could connect).
    let mut listener = Listener::bind("127.0.0.1:0", Some(b"tour secret"))?;
    println!("  listening on {}", listener.address());
    let p = Process::new(client_child, listener.address().clone());
    p.start()?;
    let conn = listener.accept()?;
    let from = listener.last_accepted().map_or_else(|| "a client".to_string(), |a| a.to_string());
    println!("  accepted {from}: {}", conn.recv::<String>()?);
    p.join()?;
    // A client with the wrong key fails its own handshake; the listener closes it, counts it
    // and goes on serving (handshakes run concurrently: a bad or stalled client holds up no one).
    let addr = listener.address().clone();
    let clients = std::thread::spawn(move || {
        let bad = Client::connect(&addr, Some(b"wrong key")).map(|_| ());
        let good = Client::connect(&addr, Some(b"tour secret")).and_then(|c| c.send(&"the next client"));
        (bad, good)
    });
    let conn = listener.accept()?;
    println!("  accepted: {}", conn.recv::<String>()?);
    let (bad, good) = clients.join().unwrap();
    good?;
    println!("  the client with the wrong key got: {}", bad.unwrap_err());
    println!("  listener: {:?}", listener.handshake_stats());

    // wait() over a connection and a process sentinel.
    let (quiet, _keep) = pipe(true)?;
    let p = Process::new(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 100);
    p.start()?;
    let sentinel = p.sentinel()?;
    let objects: [&dyn Waitable; 2] = [&quiet, &sentinel];
    let t = Instant::now();
    let ready = wait(&objects, Some(Duration::from_secs(10)))?;
    println!("  wait -> {ready:?} after {:?} (index 1 = the sentinel: the child ended)", t.elapsed());
    p.join()?;
    Ok(())
}
