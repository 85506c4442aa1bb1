"""The moderation worker: Kafka in, the student model, decisions and dead letters out."""
