//! End-to-end scenarios: the real app, in-process, on free ports. Each scenario runs on the
//! embedded defaults and on the services named by `NATTER_TEST_*` (see the harness).

mod accounts;
mod client;
mod cluster;
mod edge;
mod edge_hostile;
mod edge_http;
mod edge_session;
mod faults;
mod flow;
mod groups;
mod health;
mod interop;
mod limits;
mod media;
mod media_hostile;
mod media_lifecycle;
mod messaging;
mod own_devices;
mod presence;
mod presence_outage;
mod shutdown;
mod telemetry;
mod transport;
mod wills;
mod wire;
