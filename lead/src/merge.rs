//! Merging lead updates, so that several calls can travel as one request and the
//! outcome is the same as sending them one by one.

use crate::Lead;

impl Lead {
    /// Folds a later update into this one. Rules:
    /// - scalar fields (identity, agentId, status, picture, name, email, phone, dialCode):
    ///   the later value wins when it is present;
    /// - tags: union, in first-seen order;
    /// - attributes: merged by key, the later value wins, first-seen key order;
    /// - notes: appended.
    pub fn merge(&mut self, later: Lead) {
        let scalars = [
            (&mut self.uuid, later.uuid),
            (&mut self.bot_id, later.bot_id),
            (&mut self.customer_id, later.customer_id),
            (&mut self.agent_id, later.agent_id),
            (&mut self.status, later.status),
            (&mut self.picture, later.picture),
            (&mut self.name, later.name),
            (&mut self.email, later.email),
            (&mut self.phone, later.phone),
            (&mut self.dial_code, later.dial_code),
        ];
        for (slot, value) in scalars {
            if value.is_some() {
                *slot = value;
            }
        }
        if let Some(notes) = later.notes {
            self.notes.get_or_insert_with(Vec::new).extend(notes);
        }
        if let Some(tags) = later.tags {
            let mine = self.tags.get_or_insert_with(Vec::new);
            for tag in tags {
                if !mine.contains(&tag) {
                    mine.push(tag);
                }
            }
        }
        if let Some(attributes) = later.attributes {
            let mine = self.attributes.get_or_insert_with(Vec::new);
            for attribute in attributes {
                match mine.iter_mut().find(|a| a.key == attribute.key) {
                    Some(existing) => existing.value = attribute.value,
                    None => mine.push(attribute),
                }
            }
        }
    }
}
