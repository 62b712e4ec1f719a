"""What every Navigator service needs and no domain rule: configuration, the database
session, the event envelope and outbox, reliable event handling, money and base errors."""
