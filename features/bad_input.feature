@errors
Feature: Bad input gets a clear answer and the connection lives on
  Whatever my app sends, the assistant either answers it or says what is wrong with it, in time,
  and the connection keeps working. "In time" means within the error_timeout setting: 5 seconds
  unless the run sets another number. A message that is not text, or a very large question, does
  not break the connection either: a very large question is answered in full or refused politely,
  that is with a message saying what is wrong. Only when the assistant declares a size limit (the
  max_message_bytes setting) and the question is larger may it refuse by ending the connection.
  Checking that the connection is alive, and ending the conversation, work at any time, even while
  an answer streams in.

  Background:
    Given I am connected to the assistant

  @garbled
  Scenario: A garbled message
    When I send a garbled message
    Then the assistant says in time what is wrong with it
    And the connection still responds

  @no_text
  Scenario: A question with no text
    When I send a question with no text
    Then the assistant says in time what is wrong with it
    And a next question is answered in full

  @blank_text
  Scenario: A question with a blank text
    When I send a question with a blank text
    Then the assistant says in time what is wrong with it
    And a next question is answered in full

  @impossible_customer
  Scenario Outline: A question whose customer number is <customer> is refused, and the chat carries on
    When I send a question whose customer number is <customer>
    Then the assistant answers with an error in time
    And a next question is answered in full

    Examples:
      | customer          |
      | a word            |
      | a negative number |

  @unnamed_customer
  Scenario Outline: A question whose customer number is <customer> is still answered
    When I send a question whose customer number is <customer>
    Then the answer is complete and not empty

    Examples:
      | customer |
      | zero     |
      | empty    |
      | missing  |

  @not_text
  Scenario: A message that is not text does not break the connection
    When I send a message that is not text
    Then the connection stays open, responds and answers a next question in full

  @large_question
  Scenario: A very large question is answered or refused politely
    When I send a question of 2 MB
    Then the assistant answers it in full or refuses it politely
    And unless it was over the declared size limit, the connection stays open, responds and answers a next question in full

  @responsive
  Scenario: The connection responds while an answer streams
    Given I have asked for a long answer
    When I check the connection while the answer streams
    Then it responds before the answer is finished

  @end_conversation
  Scenario: Ending the conversation
    When I ask to end the conversation
    Then the assistant says goodbye
    And the connection ends cleanly
