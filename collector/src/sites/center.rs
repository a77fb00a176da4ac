//! A site's privacy-center settings: the name its mails are sent under, how people reach the
//! owner, the contact frequencies and topics people may choose, and the yearly notice.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CenterSettings {
    /// The name mails to people are sent under; empty: the site's domain.
    pub sender_name: String,
    /// How people reach the site owner (an address or a URL), shown when mail cannot be sent.
    pub contact: String,
    /// How often people may choose to hear from the site, in the order shown.
    pub frequencies: Vec<String>,
    /// What people may choose to hear about.
    pub topics: Vec<String>,
    /// Mail every active lead once a year what the site holds and the center's address.
    pub yearly_notice: bool,
}

impl Default for CenterSettings {
    fn default() -> Self {
        CenterSettings {
            sender_name: String::new(),
            contact: String::new(),
            frequencies: ["weekly", "monthly", "only essential", "never"]
                .map(String::from)
                .to_vec(),
            topics: Vec::new(),
            yearly_notice: false,
        }
    }
}

impl CenterSettings {
    /// Checks the settings; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let line = |what: &str, v: &str, max: usize| {
            if v.chars().count() > max || v.chars().any(char::is_control) {
                Err(format!(
                    "{what} must be at most {max} characters on one line"
                ))
            } else {
                Ok(())
            }
        };
        line("sender_name", &self.sender_name, 80)?;
        line("contact", &self.contact, 200)?;
        for (what, list, most) in [
            ("frequencies", &self.frequencies, 10),
            ("topics", &self.topics, 30),
        ] {
            if list.len() > most {
                return Err(format!("at most {most} {what}"));
            }
            for (i, v) in list.iter().enumerate() {
                if v.trim().is_empty() || v.trim() != v {
                    return Err(format!("{what} must not be empty or padded"));
                }
                line(what, v, 60)?;
                if list[..i].contains(v) {
                    return Err(format!("{what}: \"{v}\" is listed twice"));
                }
            }
        }
        if self.frequencies.is_empty() {
            return Err("frequencies must offer at least one choice".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_lists_are_named() {
        assert!(CenterSettings::default().validate().is_ok());
        let with = |f: &dyn Fn(&mut CenterSettings)| {
            let mut s = CenterSettings::default();
            f(&mut s);
            s.validate()
        };
        assert!(with(&|s| s.topics = vec!["News".into(), "News".into()])
            .unwrap_err()
            .contains("twice"));
        assert!(with(&|s| s.frequencies.clear()).is_err());
        assert!(with(&|s| s.sender_name = "a\r\nBcc: x@y.z".into()).is_err());
        assert!(with(&|s| s.topics = vec![" padded".into()]).is_err());
    }
}
