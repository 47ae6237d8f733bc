@p2 @mrr:80k @area:auth @owner:identity-team
Feature: Security of sign-in and access
  Every customer trusts the platform to let only them into their account and their
  conversations. Security and compliance reviews, and every enterprise contract, depend on it:
  a token that works after it should not, or a stranger writing into a conversation, is a
  breach to disclose, not just a bug. Each refusal counts only once the same door has let a
  signed-in user in: a door that lets nobody in proves nothing.

  Scenario: An expired token is refused by the platform's API
    Given a signed-in user who can list their conversations
    And a fresh token made with the platform's signing key can list them too
    When someone lists the user's conversations with the user's expired token
    Then the request is refused

  Scenario: A live session with an expired token is refused
    Given a signed-in user is let into a live session
    And a fresh token made with the platform's signing key is let in too
    When someone opens a live session with the user's expired token
    Then the session is refused

  Scenario: A token signed with another key is refused by the platform's API
    Given a signed-in user who can list their conversations
    When someone lists conversations with a token signed by another key
    Then the request is refused

  Scenario: A token meant only to renew a sign-in is not accepted in place of an access token
    Given a signed-in user who can list their conversations
    When someone lists the user's conversations with the user's token for renewing the sign-in
    Then the request is refused

  Scenario: A forged token is refused even from a caller posing as the platform's own tests
    Given a signed-in user is let into a live session
    When someone opens a live session with a forged token, posing as the platform's own tests
    Then the session is refused

  Scenario: A token that was signed out no longer works
    Given a signed-in user who listed their conversations, then signed out
    When someone lists the user's conversations with the signed-out token
    Then the request is refused

  Scenario: The conversation endpoints refuse callers who are not signed in
    Given a signed-in user who can list their conversations
    When someone who is not signed in uses the conversation endpoints
    Then every one of them refuses the caller

  @destructive
  Scenario: A user cannot write into another user's conversation
    Given a signed-in user who has started a conversation
    And another signed-in user with an open live session
    When the other user sends the message "Written by a stranger" into that conversation
    Then the conversation does not contain the message "Written by a stranger"
