//! Coalescing: the fewest read requests that cover every field of a poll.
//!
//! Fields of one data table are sorted by address and merged greedily into requests of at most
//! 125 registers or 2000 bits (the protocol's limits). Fields that touch or overlap always share
//! a request; fields up to `max_gap` registers apart do too, at the price of reading the gap.
//! The gap defaults to 0 because many PLCs answer "illegal data address" for unmapped registers,
//! and one such answer would void the whole request (Telegraf makes the same choice).

use crate::map::{Field, RegisterKind};

/// One read request and where each field's value sits in its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    pub kind: RegisterKind,
    pub start: u16,
    pub count: u16,
    /// `(index into the polled fields, offset of its first item in the response)`.
    pub fields: Vec<(usize, u16)>,
}

impl ReadRequest {
    /// `holding 10..14`, for logs and error records.
    pub fn describe(&self) -> String {
        format!("{} {}..{}", self.kind.name(), self.start, u32::from(self.start) + u32::from(self.count))
    }
}

/// Plans the requests for `fields` (in the order they will be decoded).
pub fn plan_reads(fields: &[Field], max_gap: u16) -> Vec<ReadRequest> {
    let mut order: Vec<usize> = (0..fields.len()).collect();
    order.sort_by_key(|&i| (fields[i].kind, fields[i].address, fields[i].count));
    let mut requests: Vec<ReadRequest> = Vec::new();
    for i in order {
        let f = &fields[i];
        let (start, end) = (u32::from(f.address), u32::from(f.address) + u32::from(f.count));
        if let Some(last) = requests.last_mut() {
            let last_end = u32::from(last.start) + u32::from(last.count);
            let fits = last.kind == f.kind
                && start <= last_end + u32::from(max_gap)
                && end.max(last_end) - u32::from(last.start) <= u32::from(f.kind.max_per_request());
            if fits {
                last.count = (end.max(last_end) - u32::from(last.start)) as u16;
                last.fields.push((i, (start - u32::from(last.start)) as u16));
                continue;
            }
        }
        requests.push(ReadRequest { kind: f.kind, start: f.address, count: f.count, fields: vec![(i, 0)] });
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::RegisterMap;

    fn fields(inline: &str) -> Vec<Field> {
        RegisterMap::from_inline(inline).unwrap().fields
    }

    #[test]
    fn touching_fields_share_a_request() {
        let f = fields(
            "{name='a', register='holding', address=0, type='float32'}, {name='b', register='holding', address=2, type='int16'},
             {name='c', register='coil', address=5}, {name='d', register='coil', address=6}, {name='e', register='holding', address=10}",
        );
        let plan = plan_reads(&f, 0);
        assert_eq!(plan.len(), 3, "{plan:?}");
        assert_eq!((plan[0].kind, plan[0].start, plan[0].count), (RegisterKind::Coil, 5, 2));
        assert_eq!((plan[1].start, plan[1].count, plan[1].fields.clone()), (0, 3, vec![(0, 0), (1, 2)]));
        assert_eq!((plan[2].start, plan[2].count), (10, 1));
        let gapped = plan_reads(&f, 7);
        assert_eq!(gapped.len(), 2);
        assert_eq!((gapped[1].start, gapped[1].count), (0, 11));
        assert_eq!(gapped[1].fields[2], (4, 10));
    }

    #[test]
    fn requests_respect_protocol_limits() {
        let many: Vec<String> =
            (0..300).map(|i| format!("{{name='h{i}', register='input', address={i}}}")).collect();
        let plan = plan_reads(&fields(&many.join(",")), 0);
        assert_eq!(plan.iter().map(|r| r.count).collect::<Vec<_>>(), vec![125, 125, 50]);
        let bits: Vec<String> = (0..2500).map(|i| format!("{{name='c{i}', register='discrete', address={i}}}")).collect();
        let plan = plan_reads(&fields(&bits.join(",")), 0);
        assert_eq!(plan.iter().map(|r| r.count).collect::<Vec<_>>(), vec![2000, 500]);
        // A field never straddles two requests.
        let f = fields("{name='a', register='holding', address=0, type='string', length=124}, {name='b', register='holding', address=124, type='int32'}");
        assert_eq!(plan_reads(&f, 0).len(), 2);
    }
}
