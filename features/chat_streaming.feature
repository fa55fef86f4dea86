@chat
Feature: Chat replies stream in as text
  When I ask the assistant a question, I watch the answer appear piece by piece, the way a chat app
  shows it while it is being written. The pieces come in order, there are several of them, and
  together they are the whole answer.

  Background:
    Given I am connected to the assistant

  @streamed_answer
  Scenario: A question gets a complete answer that streams in
    When I ask a question
    Then the answer streams in several pieces
    And the answer is complete and not empty
    And the pieces together are the whole answer
    And the written answer arrives in the right order
