@p1 @mrr:120k @area:chat @owner:chat-team
Feature: Conversations
  Users come back to their conversations. They must read them as they wrote them, and no
  one else may read them: a leak is a privacy incident, not just a bug.

  @destructive
  Scenario: A user's messages come back in the order they were sent
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user sends the messages:
      | message                |
      | First, the plan        |
      | Second, the budget     |
      | Third, the decision    |
    Then the conversation lists the messages in the order they were sent

  @destructive
  Scenario: A user cannot see another user's conversation
    Given a signed-in user who has started a conversation
    And another signed-in user
    When each of them asks for the conversation
    Then the first user is shown the conversation
    But it is not shown to the other user
