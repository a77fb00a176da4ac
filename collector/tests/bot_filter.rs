//! The bot filter measured on public lists: crawler-user-agents' instances (crawlers) and
//! top-user-agents (the most common real browsers), both from the npm registry.

fn sample(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/generated")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("run make data")).unwrap()
}

#[test]
fn drops_at_least_95_percent_of_crawlers() {
    let crawlers = sample("sample-crawlers.json");
    assert!(
        crawlers.len() > 1000,
        "sample too small: {}",
        crawlers.len()
    );
    let caught = crawlers
        .iter()
        .filter(|ua| candor::enrich::user_agent::parse(ua).is_bot)
        .count();
    let rate = caught as f64 / crawlers.len() as f64;
    println!(
        "crawlers dropped: {caught}/{} = {:.2}%",
        crawlers.len(),
        rate * 100.0
    );
    assert!(
        rate >= 0.95,
        "only {:.2}% of crawlers dropped",
        rate * 100.0
    );
}

#[test]
fn drops_at_most_1_percent_of_real_browsers() {
    let browsers = sample("sample-browsers.json");
    assert!(browsers.len() >= 50);
    let dropped: Vec<&String> = browsers
        .iter()
        .filter(|ua| candor::enrich::user_agent::parse(ua).is_bot)
        .collect();
    let rate = dropped.len() as f64 / browsers.len() as f64;
    println!(
        "browsers dropped: {}/{} = {:.2}%",
        dropped.len(),
        browsers.len(),
        rate * 100.0
    );
    assert!(
        rate <= 0.01,
        "{:.2}% of real browsers dropped: {dropped:?}",
        rate * 100.0
    );
}

#[test]
fn headless_chromium_default_user_agent_is_dropped() {
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
    assert!(candor::enrich::user_agent::parse(ua).is_bot);
}
