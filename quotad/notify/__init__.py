"""The notifier: bilingual mails (Japanese first, then English) through an outbox table and SMTP.

``render`` words a directive, a digest or a weekly summary from templates; ``message`` builds the RFC 5322
message with headers that no company, job or account name can break; ``outbox`` queues and delivers with
retries; ``smtp`` is the one module that talks to a mail server; ``calendar`` says which days are working
days; ``notices`` composes recipients and queues what the directive engine decided to send.
The notifier never decides whether to tell someone — the directive engine does.
"""
