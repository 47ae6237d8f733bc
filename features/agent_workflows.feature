@p3 @mrr:50k @area:agents @owner:agents-team
Feature: Agent workflows
  Teams build their daily work on agent runs: a run that fails says so, two people working at
  the same time each see only their own run, a conversation goes on after its first answer, and
  integrations call agents over the API. When these break, agents look unreliable and teams stop
  relying on them.

  Scenario: A run that cannot be carried out tells the user it failed
    Given a signed-in user with an open live session
    When the user asks an agent that does not exist for "Plan my week"
    Then the user is told the run failed

  Scenario: Two users' runs at the same time each reach only their own user
    Given two signed-in users with open live sessions
    When both ask an agent for something at the same time
    Then each user sees only the events of their own run

  @destructive
  Scenario: A follow-up request in the same conversation completes
    Given a signed-in user with an open live session
    And the user has started a conversation
    When the user asks an agent "Which agent servers can I use?" in the conversation
    And the user follows up with "And which of them is connected?" in the same conversation
    Then the follow-up completes

  Scenario Outline: The <agent> agent answers a request sent over the API
    Given a signed-in user
    When the user sends the <agent> agent the request "How can I reduce my model costs?"
    Then the agent answers with a result

    Examples:
      | agent   |
      | general |
      | triage  |
