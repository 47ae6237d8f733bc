@p1 @mrr:120k @area:chat @owner:chat-team
Feature: Live sessions
  Every conversation with the platform's AI agents happens in a live session. Chat users
  depend on it to be let in quickly, to keep strangers out, and to carry their messages.
  When it breaks, nobody can chat: the core product is down for every paying customer.

  Scenario: A signed-in user opens a live session and is welcomed
    Given a signed-in user
    When the user opens a live session
    Then the user is welcomed within 2 seconds

  Scenario: A user who opens many sessions in a short time is still let in
    Given a signed-in user
    When the user opens and closes 25 live sessions in a short time
    Then the user is still let into a new live session

  Scenario: A live session without a token is refused
    Given a signed-in user is let into a live session
    When someone opens a live session without a token
    Then the session is refused

  Scenario: A live session with an invalid token is refused
    Given a signed-in user is let into a live session
    When someone opens a live session with an invalid token
    Then the session is refused

  Scenario: A live session answers a ping
    Given a signed-in user with an open live session
    When the user pings the session
    Then the session answers with a pong within 2 seconds

  @destructive
  Scenario: A message sent in a live session is acknowledged and kept in its conversation
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user sends the message "Hello from the release gate"
    Then the message is acknowledged
    And the conversation contains the message "Hello from the release gate"

  Scenario Outline: <users> users hold live sessions at the same time
    Given <users> signed-in users
    When each of them opens a live session at the same time
    Then every one of them is welcomed within <budget> seconds
    And every session stays open

    Examples:
      | users | budget |
      | 5     | 2      |
