//! The lead as JSON upstream: [`reekolect_lead_json::write_lead`].

pub(crate) use reekolect_lead_json::write_lead;
