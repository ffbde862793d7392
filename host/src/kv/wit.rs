//! WIT ⇄ host conversions for key-value storage.

use crate::kernel::wit::hutong::platform::kv;
use crate::kv::store::{EntryPage, KeyPage, KvOp};

impl From<kv::Op> for KvOp {
    fn from(op: kv::Op) -> Self {
        match op {
            kv::Op::Insert(e) => KvOp::Insert {
                key: e.key,
                value: e.value,
            },
            kv::Op::Set(e) => KvOp::Set {
                key: e.key,
                value: e.value,
            },
            kv::Op::Swap(e) => KvOp::Swap {
                key: e.key,
                expected: e.expected,
                value: e.value,
            },
            kv::Op::Remove(key) => KvOp::Remove { key },
            kv::Op::Require(key) => KvOp::Require { key },
        }
    }
}

impl From<KeyPage> for kv::KeyPage {
    fn from(page: KeyPage) -> Self {
        kv::KeyPage {
            keys: page.items,
            next_cursor: page.next,
        }
    }
}

impl From<EntryPage> for kv::EntryPage {
    fn from(page: EntryPage) -> Self {
        kv::EntryPage {
            entries: page.items,
            next_cursor: page.next,
        }
    }
}
