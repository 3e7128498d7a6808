//! The dashboard page: one HTML file with its styles and script inline, compiled into the
//! binary, so it works in a private network with no CDN and loads in one round trip.

pub const PAGE: &str = include_str!("dashboard.html");
