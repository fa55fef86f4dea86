@chat
Feature: Chat replies stream in as text
  A customer asks the assistant a question and watches the answer appear piece by piece,
  the way a chat app shows it while it is being written.

  Background:
    Given I am connected to the chat backend

  @streamed_answer
  Scenario: A question gets a complete answer that streams in
    When I ask a question
    Then the answer streams in several pieces
    And the answer is complete and not empty
    And the text events arrive in the right order
