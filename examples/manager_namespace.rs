//! A shared namespace: attributes set in one process are seen in another. And the caveat
//! about mutable values: a value fetched from a proxy is a copy, so changing it in place
//! changes nothing on the server until it is assigned back.

use multiproc::Process;
use multiproc::manager::{Manager, NamespaceProxy};

fn producer(ns: NamespaceProxy) {
    ns.set("x", &42i64).expect("set");
    ns.set("y", &"hello".to_string()).expect("set");
    // The mutable-value caveat: this push is lost...
    let mut tags: Vec<String> = ns.get("tags").expect("get");
    tags.push("lost".into());
    // ...and this one is kept, because the list is assigned back.
    let mut kept: Vec<String> = ns.get("tags").expect("get");
    kept.push("kept".into());
    ns.set("tags", &kept).expect("set");
}

fn consumer(ns: NamespaceProxy) {
    let x: i64 = ns.get("x").expect("x was set before this process started");
    let y: String = ns.get("y").expect("y");
    println!("consumer sees x = {x}, y = {y:?}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::start()?;
    let ns = m.namespace()?;
    ns.set("tags", &Vec::<String>::new())?;
    let p = Process::new(producer, ns.clone());
    p.start()?;
    assert_eq!(p.join()?, 0);
    let c = Process::new(consumer, ns.clone());
    c.start()?;
    assert_eq!(c.join()?, 0);
    let tags: Vec<String> = ns.get("tags")?;
    println!("tags after the producer: {tags:?}");
    assert_eq!(tags, vec!["kept"]);
    println!("attributes: {:?}", ns.names()?);
    Ok(())
}
