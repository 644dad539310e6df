//! Messages over a pipe until "END": the sender sends a list of messages and a final "END",
//! the receiver prints each one until it sees "END".
//!
//! Python: `parent_conn, child_conn = multiprocessing.Pipe()`, `conn.send(msg)` in one
//! process, `conn.recv()` in the other until the message is `"END"`.
//! Run with `cargo run --example pipe_end`.

use multiproc::connection::Connection;
use multiproc::{Process, pipe};

fn sender(conn: Connection) {
    for msg in ["hello", "hey", "hru?", "END"] {
        conn.send(msg).unwrap();
        println!("Sent the message: {msg}");
    }
}

fn receiver(conn: Connection) {
    loop {
        let msg: String = conn.recv().unwrap();
        if msg == "END" {
            break;
        }
        println!("Received the message: {msg}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (parent_conn, child_conn) = pipe(true)?;
    let p1 = Process::new(sender, parent_conn);
    let p2 = Process::new(receiver, child_conn);
    p1.start()?;
    p2.start()?;
    p1.join()?;
    p2.join()?;
    Ok(())
}
