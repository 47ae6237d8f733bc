@p1 @mrr:120k @area:agents @owner:agents-team
Feature: Agent runs
  When a user asks an agent for something, they watch it work: started, thinking, using a
  tool, done. A run missing any of these looks frozen, and users abandon it.

  Scenario: A user's request streams its progress and completes
    Given a signed-in user with an open live session
    When the user asks an agent "Which agent servers can I use?"
    Then the user sees the progress events in this order:
      | progress      |
      | started       |
      | thinking      |
      | using a tool  |
      | tool finished |
      | completed     |
    And every progress event belongs to the same run
    And the run completes within 10 seconds
