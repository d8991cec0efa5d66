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
        let mut later = later;
        for ((_, slot), (_, value)) in self.scalars_mut().into_iter().zip(later.scalars_mut()) {
            if value.is_some() {
                *slot = value.take();
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
