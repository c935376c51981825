-- The highest `seq` a conversation's messages have used. An append increments it in the same
-- statement that inserts the messages: the row update waits for any concurrent append and
-- sees its result, so a turn is one statement and one round trip, and numbering stays gap-free
-- per append even across nodes.
alter table conversations add column last_seq bigint not null default 0;

update conversations c set last_seq = m.seq
from (
    select org_id, conversation_id, max(seq) as seq
    from conversation_messages
    group by org_id, conversation_id
) m
where c.org_id = m.org_id and c.id = m.conversation_id;
