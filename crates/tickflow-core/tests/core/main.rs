//! The core's integration tests, one binary (see ARCHITECTURE.md, "Tests").

mod boundaries;
mod contracts;
mod decimal_property;
mod dependencies;
mod docs;
mod fuzz;
mod json_writer;
mod oracle;
mod support;
mod venues;
mod windows_property;
