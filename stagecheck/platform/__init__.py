"""The platform's vocabulary: the shapes its contract allows, checks, signing users in, live
sessions, conversations and agent runs."""
