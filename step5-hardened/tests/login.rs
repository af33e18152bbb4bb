//! The lesson: logging in puts the user's id in the session, and the session opens the
//! protected page.

mod common;

use common::{Browser, app};

const GOOD_FORM: &str = "username=admin&password=1234";
const GOOD_JSON: &str = r#"{"username":"admin","password":"1234"}"#;

#[tokio::test]
async fn the_login_page_is_a_form() {
    let page = Browser::new(&app()).get("/login").await;

    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<form method="post" action="/login">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"name="username""#));
    assert!(page.body.contains(r#"type="password""#));
}

#[tokio::test]
async fn looking_at_the_login_page_creates_no_session() {
    let page = Browser::new(&app()).get("/login").await;

    assert_eq!(page.status, 200, "the form is there");
    assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
}

#[tokio::test]
async fn the_dashboard_is_unauthorized_without_login() {
    let page = Browser::new(&app()).get("/dashboard").await;

    assert_eq!(page.status, 401);
    assert!(page.body.contains("Unauthorized"), "{}", page.body);
    assert!(
        page.body.contains(r#"href="/login""#),
        "links to the form: {}",
        page.body
    );
}

#[tokio::test]
async fn logging_in_with_the_form_opens_the_dashboard() {
    let mut browser = Browser::new(&app());

    let login = browser.post_form("/login", GOOD_FORM).await;
    let dashboard = browser.get("/dashboard").await;

    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("Logged in successfully"),
        "{}",
        login.body
    );
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard.body.contains("Welcome user 1 to the dashboard"),
        "{}",
        dashboard.body
    );
}

#[tokio::test]
async fn logging_in_with_json_opens_the_dashboard() {
    let mut browser = Browser::new(&app());

    let login = browser.post_json("/login", GOOD_JSON).await;
    let dashboard = browser.get("/dashboard").await;

    assert_eq!(login.status, 200);
    assert_eq!(login.headers["content-type"], "application/json");
    assert_eq!(login.body, r#"{"message":"Logged in successfully"}"#);
    assert!(
        dashboard.body.contains("Welcome user 1 to the dashboard"),
        "{}",
        dashboard.body
    );
}

#[tokio::test]
async fn a_wrong_password_is_401_with_the_form_again() {
    let mut browser = Browser::new(&app());

    let page = browser
        .post_form("/login", "username=admin&password=12345")
        .await;

    assert_eq!(page.status, 401);
    assert!(page.body.contains("Invalid credentials"), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<form method="post" action="/login">"#)
    );
    assert!(
        page.body.contains(r#"value="admin""#),
        "the username is kept: {}",
        page.body
    );
    assert_eq!(browser.get("/dashboard").await.status, 401);
}

#[tokio::test]
async fn an_unknown_user_is_401_by_json() {
    let mut browser = Browser::new(&app());

    let page = browser
        .post_json("/login", r#"{"username":"root","password":"1234"}"#)
        .await;

    assert_eq!(page.status, 401);
    assert_eq!(page.body, r#"{"message":"Invalid credentials"}"#);
    assert_eq!(browser.get("/dashboard").await.status, 401);
}

#[tokio::test]
async fn only_the_user_id_goes_into_the_session() {
    let mut browser = Browser::new(&app());

    let page = browser.post_form("/login", GOOD_FORM).await;

    assert!(
        page.body
            .contains("<code>user_id</code></td><td><code>1</code>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("1234"),
        "the password is not stored: {}",
        page.body
    );
}

#[tokio::test]
async fn a_login_in_one_browser_does_not_log_in_another() {
    let app = app();
    let mut alice = Browser::new(&app);
    let mut bob = Browser::new(&app);

    alice.post_form("/login", GOOD_FORM).await;
    bob.get("/").await;

    assert_eq!(alice.get("/dashboard").await.status, 200);
    assert_eq!(bob.get("/dashboard").await.status, 401);
}

#[tokio::test]
async fn the_visit_count_survives_logging_in() {
    let mut browser = Browser::new(&app());
    browser.get("/").await;

    browser.post_json("/login", GOOD_JSON).await;
    let page = browser.get("/").await;

    assert!(page.body.contains("Number of visits: 2"), "{}", page.body);
}
