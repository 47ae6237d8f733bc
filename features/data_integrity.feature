@p5 @mrr:10k @area:chat @owner:chat-team
Feature: Data integrity of conversations
  Users keep their work in conversations and come back to it: what they wrote must come back
  whole, exactly as written, once, and in order, whatever happened to their connection. Lost or
  altered messages erode trust in everything the platform keeps.

  @destructive
  Scenario: Messages survive a reconnect
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user sends the message "Before the reconnect"
    And the user reconnects
    And the user sends the message "After the reconnect"
    Then the conversation lists every message sent

  @destructive
  Scenario Outline: A message in <writing> comes back exactly as it was written
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user sends the message "<text>"
    Then the conversation returns the message exactly as it was sent

    Examples:
      | writing                     | text                                         |
      | accented and non-Latin text | Grüße aus Köln, 東京で会いましょう, naïve café |
      | emoji                       | Launch 🚀 done ✅ thanks 👍🏽                    |

  @destructive
  Scenario: A 10 KB message comes back whole
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user sends a message of 10 KB
    Then the platform acknowledges the whole message
    And the conversation returns the message exactly as it was sent

  @destructive
  Scenario: A conversation lists every message once, in order
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user sends the messages:
      | message             |
      | One: the brief      |
      | Two: the draft      |
      | Three: the sign-off |
    Then the conversation lists each message once, in the order sent

  @destructive
  Scenario: A new conversation appears in the user's list
    Given a signed-in user
    When the user starts a conversation titled "Quarterly planning"
    Then the user's conversations include "Quarterly planning"
