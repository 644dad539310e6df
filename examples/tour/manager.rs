//! Managers: a server process holding a dict, a list, a namespace, a lock and a custom
//! type; proxies used from children, nested, batched, and a remote client by address.

use multiproc::Process;
use multiproc::manager::{DictProxy, ListProxy, Managed, Manager, Proxy};
use serde::{Deserialize, Serialize};

/// A custom managed type: a bank account whose methods run in the server.
struct Account {
    owner: String,
    balance: i64,
}

#[derive(Serialize, Deserialize)]
enum AccountOp {
    Deposit(i64),
    Withdraw(i64),
    Balance,
}

impl Managed for Account {
    type Init = (String, i64);
    type Reply = i64;
    type Request = AccountOp;
    const NAME: &'static str = "Account";

    fn create((owner, opening): (String, i64)) -> Result<Account, String> {
        Ok(Account { owner, balance: opening })
    }

    fn call(&mut self, op: AccountOp) -> Result<i64, String> {
        match op {
            AccountOp::Deposit(n) => self.balance += n,
            AccountOp::Withdraw(n) if n > self.balance => {
                return Err(format!("{} cannot withdraw {n}: the balance is {}", self.owner, self.balance));
            }
            AccountOp::Withdraw(n) => self.balance -= n,
            AccountOp::Balance => {}
        }
        Ok(self.balance)
    }
}

fn child((d, inner, account): (DictProxy<String, ListProxy<u32>>, ListProxy<u32>, Proxy<Account>)) {
    let pid = std::process::id();
    inner.append(pid).unwrap();
    d.get(&"pids".to_string()).unwrap().append(pid + 1).unwrap();
    account.call(AccountOp::Deposit(10)).unwrap();
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::builder().register::<Account>().start()?;
    match m.server_pid() {
        Some(pid) => println!("manager server pid {pid} at {}", m.address()),
        None => println!("manager server at {}", m.address()),
    }

    // Nesting: a dict whose value is a list proxy; both used from children.
    let pids = m.list::<u32>()?;
    let d = m.dict::<String, ListProxy<u32>>()?;
    d.set("pids".into(), pids.clone())?;
    let account = m.create::<Account>(("Ada".to_string(), 100))?;
    let ps: Vec<Process> = (0..3).map(|_| Process::new(child, (d.clone(), pids.clone(), account.clone()))).collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
    }
    println!("the nested list, filled by 3 children: {} entries", pids.len()?);
    println!("the account after 3 deposits: {}", account.call(AccountOp::Balance)?);
    println!("an overdraft: {}", account.call(AccountOp::Withdraw(1000)).unwrap_err());

    // Errors are typed and carry the server's message.
    let scores = m.dict::<String, u32>()?;
    let e = scores.get(&"nobody".into()).unwrap_err();
    println!("a missing key: kind {:?}: {e}", e.kind());

    // Batches: 10,000 sets and gets in two round trips.
    let t = std::time::Instant::now();
    scores.update((0..10_000).map(|i| (format!("k{i}"), i)))?;
    let keys: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
    let got = scores.get_many(&keys)?;
    println!("10,000 sets + 10,000 gets batched: {:?}, all found: {}", t.elapsed(), got.iter().all(Option::is_some));

    // A managed lock held by a killed process is released by the server.
    let lock = m.lock()?;
    let holder = Process::new(
        |l: multiproc::manager::LockProxy| {
            l.acquire().unwrap().leak();
            std::thread::sleep(std::time::Duration::from_secs(600));
        },
        lock.clone(),
    );
    holder.start()?;
    while !lock.is_locked()? {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    holder.kill()?;
    holder.join()?;
    let _g = lock.acquire_timeout(std::time::Duration::from_secs(10))?;
    println!("a lock whose holder was SIGKILLed: acquired again");

    // A remote client needs only the address and the key.
    let remote = Manager::serve("127.0.0.1:0", b"tour key")?;
    remote.publish("greeting", &remote.value("hello from the server".to_string())?)?;
    let client = Manager::connect(remote.address().clone(), b"tour key")?;
    let v = client.lookup::<multiproc::manager::ValueProxy<String>>("greeting")?;
    println!("remote at {}: {:?}", remote.address(), v.get()?);
    Ok(())
}
