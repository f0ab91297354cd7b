//! The two authenticators' logic over plain strings: `ldap` binds as the DN built from the
//! login; `ldap_search` finds the entry first (as a service account) and binds as it.

use crate::directory::{Directory, Level, Log, SearchScope, Unavailable};
use crate::escape::{dn_value, filter_value};
use crate::options::ReturnedId;

/// A successful login: the user id to return and the entry's DN (kept in the identity's
/// `userdata` for the metadata providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The user id (`returned_id`).
    pub userid: String,
    /// The user's entry.
    pub dn: String,
}

/// `ldap`: bind as `naming_attribute=<login>,base_dn`.
pub struct BindAuth {
    /// The connections.
    pub dir: Directory,
    /// Where the user entries are.
    pub base_dn: String,
    /// The RDN attribute (`uid`).
    pub naming_attribute: String,
    /// What to return.
    pub returned_id: ReturnedId,
}

impl BindAuth {
    /// `Ok(None)` for a wrong or empty password or an unknown login.
    pub fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<Accepted>, Unavailable> {
        if login.is_empty() || password.is_empty() {
            return Ok(None);
        }
        let dn = format!(
            "{}={},{}",
            self.naming_attribute,
            dn_value(login),
            self.base_dn
        );
        Ok(self
            .dir
            .check_password(&dn, password)?
            .then(|| accepted(self.returned_id, login, dn)))
    }
}

/// `ldap_search`: find `naming_attribute=<login>` under `base_dn`, then bind as it.
pub struct SearchAuth {
    /// The connections (searches run as the service account).
    pub dir: Directory,
    /// Search base.
    pub base_dn: String,
    /// Attribute holding the login.
    pub naming_attribute: String,
    /// What to return.
    pub returned_id: ReturnedId,
    /// `subtree` or `onelevel`.
    pub scope: SearchScope,
    /// Extra filter ANDed in (`(objectClass=inetOrgPerson)`).
    pub restrict: Option<String>,
    /// Where to log.
    pub log: Log,
}

impl SearchAuth {
    /// The search filter for `login`, its value escaped.
    pub fn filter(&self, login: &str) -> String {
        let term = format!("({}={})", self.naming_attribute, filter_value(login));
        match &self.restrict {
            Some(r) => format!("(&{r}{term})"),
            None => term,
        }
    }

    /// `Ok(None)` for a wrong or empty password, no entry, or more than one entry.
    pub fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<Accepted>, Unavailable> {
        if login.is_empty() || password.is_empty() {
            return Ok(None);
        }
        let filter = self.filter(login);
        let entries = self
            .dir
            .search(&self.base_dn, self.scope, &filter, &["1.1"])?;
        let dn = match entries.as_slice() {
            [one] => one.dn.clone(),
            [] => {
                (self.log)(Level::Debug, "no entry for the login");
                return Ok(None);
            }
            many => {
                (self.log)(
                    Level::Error,
                    &format!(
                        "{} entries match one login under `{}`: refusing it (make \
                         `naming_attribute` unique or narrow `restrict`)",
                        many.len(),
                        self.base_dn
                    ),
                );
                return Ok(None);
            }
        };
        Ok(self
            .dir
            .check_password(&dn, password)?
            .then(|| accepted(self.returned_id, login, dn)))
    }
}

fn accepted(returned_id: ReturnedId, login: &str, dn: String) -> Accepted {
    Accepted {
        userid: match returned_id {
            ReturnedId::Dn => dn.clone(),
            ReturnedId::Login => login.to_owned(),
        },
        dn,
    }
}
