//! The parts of `local-https` that tests drive without a terminal: the settings, the
//! self-signed certificate, and the proxy itself ([`serve`]). `main.rs` tells the story and
//! holds the commands.

pub mod certificate;
pub mod proxy;
pub mod settings;

pub use certificate::SelfSigned;
pub use proxy::serve;
pub use settings::Settings;
