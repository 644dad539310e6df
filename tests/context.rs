//! Global start-method state (TestStartMethod, §2 items 193-196). One test in its own binary,
//! since it changes process-wide settings.

use multiproc::{
    StartMethod, get_all_start_methods, get_context, get_start_method, get_start_method_opt, set_start_method,
};

#[test]
fn start_method_contexts() {
    assert_eq!(get_start_method_opt(), None);
    assert_eq!(get_all_start_methods(), vec![StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork]);
    assert_eq!(get_start_method(), StartMethod::Spawn); // fixes the default
    assert_eq!(get_start_method_opt(), Some(StartMethod::Spawn));
    assert!(set_start_method(Some(StartMethod::Fork), false).is_err());
    for m in get_all_start_methods() {
        set_start_method(Some(m), true).unwrap();
        assert_eq!(get_start_method(), m);
        let ctx = get_context(None);
        assert_eq!(ctx.get_start_method(), m);
        assert_eq!(get_context(Some(m)).get_start_method(), m);
        let p = multiproc::Process::new(|(): ()| {}, ());
        assert_eq!(p.start_method(), m);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
    set_start_method(None, true).unwrap();
    assert_eq!(get_start_method_opt(), None);
    assert!("bogus".parse::<StartMethod>().unwrap_err().to_string().contains("cannot find context"));
    for m in get_all_start_methods() {
        assert_eq!(m.as_str().parse::<StartMethod>().unwrap(), m);
    }
}
